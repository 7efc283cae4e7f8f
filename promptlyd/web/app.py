"""The dashboard's ASGI app: the guard in front of the pages and the API app itself."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from promptlyd.api.context import AppContext
from promptlyd.web.apiclient import InProcessApi
from promptlyd.web.auth import Sessions
from promptlyd.web.guard import Guard
from promptlyd.web.pages import library, runs, session, stats, tasks
from promptlyd.web.pages.common import Web
from promptlyd.web.render import Renderer


def create_dashboard(ctx: AppContext, api_app: Any, sessions: Sessions,
                     hosts: set[str] | None) -> tuple[Guard, InProcessApi]:
    """The app to serve on the web listener, and the in-process API client to close."""
    from importlib.resources import files

    renderer = Renderer()
    api = InProcessApi(api_app)
    static = StaticFiles(directory=str(files("promptlyd.web") / "static"))
    pages = Starlette(routes=[
        *session.routes, *tasks.routes, *runs.routes, *library.routes, *stats.routes,
        Mount("/static", app=static, name="static"),
    ])
    pages.state.web = Web(api=api, renderer=renderer, sessions=sessions, ctx=ctx)

    def refusal(status: int, message: str) -> str:
        return renderer.render("refused.html", title="Log in" if status == 401 else "Refused",
                               status=status, message=message, nav=(), path="", csrf="",
                               zone=ctx.config.timezone, hx=False)

    guard = Guard(pages=pages, api=api_app, sessions=sessions, hosts=hosts,
                  refusal_page=refusal)
    return guard, api
