"""`web`: serve the approvals inbox, live runs and chats in a browser (tether.web)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from tether._cli.common import UserError
from tether._settings import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400


def add_web_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help = "serve the approvals inbox, live runs and chats in a browser (the web extra)"
    sub = commands.add_parser("web", help=help, description=help)
    sub.set_defaults(run=cmd_web)
    env = os.environ.get
    sub.add_argument(
        "--agents",
        metavar="MODULE:ATTR",
        default=env("TETHER_AGENTS"),
        help="the agents people may chat with (default: TETHER_AGENTS; none: no chats)",
    )
    sub.add_argument("--host", default=env("TETHER_WEB_HOST") or DEFAULT_HOST, help="bind address")
    sub.add_argument(
        "--port", type=int, default=int(env("TETHER_WEB_PORT") or DEFAULT_PORT), help="port"
    )
    sub.add_argument(
        "--users", metavar="FILE", default=env("TETHER_WEB_USERS"), help="the users file (TOML)"
    )
    sub.add_argument(
        "--rule",
        metavar="MODULE:ATTR",
        default=env("TETHER_WEB_RULE"),
        help="which runs a person sees: a function (WebUser, RunInfo) -> bool "
        "(default: by their agents, or the customer they act for)",
    )
    sub.add_argument(
        "--public-url",
        default=env("TETHER_WEB_PUBLIC_URL"),
        help="where people reach the app (https://...), needed beyond loopback",
    )
    sub.add_argument("--oidc-issuer", default=env("TETHER_WEB_OIDC_ISSUER"))
    sub.add_argument("--oidc-client-id", default=env("TETHER_WEB_OIDC_CLIENT_ID"))
    sub.add_argument(
        "--oidc-secret-file",
        metavar="FILE",
        default=env("TETHER_WEB_OIDC_SECRET_FILE"),
        help="the client secret, in a file only its owner reads",
    )
    sub.add_argument(
        "--session-secret-file",
        metavar="FILE",
        default=env("TETHER_WEB_SESSION_SECRET_FILE"),
        help="signs session cookies (default: random, so sign-ins end with the process)",
    )
    sub.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (from the terminal or stdin), print its hash for the users file",
    )


async def cmd_web(args: argparse.Namespace) -> int:
    if args.hash_password:
        return _print_hash()
    try:
        import uvicorn

        from tether._web.serving import web_config
    except ModuleNotFoundError as e:
        raise UserError(
            f"tether web needs the web extra: pip install 'tether-agents[web]' ({e.name})"
        ) from None
    from tether._web.app import create_app
    from tether._web.config import check_bind

    config = web_config(args)
    check_bind(args.host, config)
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port} is not a port")
    app = create_app(config)
    where = config.public_url or f"http://{_host_for_url(args.host)}:{args.port}"
    print(f"tether web: serving on {where}/ (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="off")
    )
    await server.serve()
    return 0


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _print_hash() -> int:
    from tether._web.access import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise ConfigurationError("an empty password")
    print(hash_password(password))
    return 0
