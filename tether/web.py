"""People in the loop in a browser: `tether web`, or the same app in your own ASGI app.

    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tether import Signer
    from tether.web import WebConfig, create_app, load_users

    config = WebConfig(
        users=load_users("users.toml"),
        signer=Signer.from_file("web-service.key"),
        public_url="https://support.example.com/approvals",
    )
    app = Starlette(routes=[Mount("/approvals", app=create_app(config))])

An inbox of every call that waits for a person, a live page per run, chats, and each
run's events over server-sent events in Tether's types or AG-UI's. Each page shows only
the runs its signed-in person may see; a decision made in a page is signed with the
app's service key (`signer`) for that person, so workers that trust the key (for `*` or
for the names it may sign for) take it as theirs. Needs the `web` extra
(`pip install 'tether-agents[web]'`).
"""

from __future__ import annotations

try:
    from tether._web.access import (
        AccessRule,
        RunInfo,
        WebUser,
        default_rule,
        hash_password,
        load_users,
    )
    from tether._web.app import create_app
    from tether._web.config import Oidc, WebConfig
except ModuleNotFoundError as e:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        f"tether.web needs the web extra: pip install 'tether-agents[web]' ({e.name} is missing)"
    ) from e
from tether._public import rehome_all

__all__ = [
    "AccessRule",
    "Oidc",
    "RunInfo",
    "WebConfig",
    "WebUser",
    "create_app",
    "default_rule",
    "hash_password",
    "load_users",
]
rehome_all(globals(), __all__)
