"""The `tether web` application: its routes, assembled over one `WebConfig`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from temporalio.client import Client

from tether._web import actions, pages, signin
from tether._web.config import WebConfig
from tether._web.context import HERE, WebContext
from tether._web.guard import Guard


def create_app(config: WebConfig, *, client: Client | None = None) -> Starlette:
    """The web app for `config` (see `tether.web`)."""
    routes = [
        Route("/", pages.inbox, name="inbox"),
        Route("/login", signin.login_form, name="login"),
        Route("/login", signin.login, methods=["POST"]),
        Route("/logout", signin.logout, methods=["POST"], name="logout"),
        Route("/login/oidc", signin.oidc_start, name="oidc_start"),
        Route("/auth/callback", signin.oidc_callback, name="oidc_callback"),
        Route("/session", pages.session, name="session"),
        Route("/runs", pages.runs, name="runs"),
        Route("/runs/{id:path}/events/agui", pages.agui_events, name="agui_events"),
        Route("/runs/{id:path}/events", pages.events, name="events"),
        Route("/runs/{id:path}/pending", pages.pending, name="pending"),
        Route("/runs/{id:path}/decide", actions.decide_call, methods=["POST"], name="decide"),
        Route("/runs/{id:path}/answer", actions.answer_question, methods=["POST"], name="answer"),
        Route("/runs/{id:path}", pages.run_page, name="run"),
        Route("/chat", pages.new_chat, name="new_chat"),
        Route("/chat", actions.start_chat, methods=["POST"]),
        Route("/chat/{id:path}/send", actions.send_message, methods=["POST"], name="send"),
        Route("/chat/{id:path}", pages.run_page, name="chat"),
        Route("/agui/{agent}", actions.agui_run, methods=["POST"], name="agui"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, config=config)])
    app.state.web = WebContext(config, client)
    return app
