"""What every page handler uses: the dashboard's parts, rendering, forms, redirects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from promptlyd.api.context import AppContext
from promptlyd.web.apiclient import Answer, InProcessApi
from promptlyd.web.auth import Session, Sessions
from promptlyd.web.render import Renderer

NAV = (("/", "Tasks"), ("/runs", "Runs"), ("/skills", "Skills"), ("/sources", "Sources"),
       ("/stats", "Stats"))


@dataclass
class Web:
    api: InProcessApi
    renderer: Renderer
    sessions: Sessions
    ctx: AppContext


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def session_of(request: Request) -> Session | None:
    session: Session | None = request.scope.get("state", {}).get("session")
    return session


def page(request: Request, template: str, *, status: int = 200, **values: Any) -> Response:
    web = web_of(request)
    session = session_of(request)
    html = web.renderer.render(
        template, nav=NAV, path=request.url.path, csrf=session.csrf if session else "",
        zone=web.ctx.config.timezone, hx=request.headers.get("hx-request") == "true", **values)
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def failed(request: Request, answer: Answer, title: str = "Something went wrong") -> Response:
    """A page for an API call that failed where no form can show it."""
    status = answer.status if answer.status >= 400 else 500
    return page(request, "message.html", status=status, title=title, message=answer.message)


async def form_of(request: Request) -> FormData:
    return await request.form()


def first(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def many(form: FormData, key: str) -> list[str]:
    return [v for v in form.getlist(key) if isinstance(v, str) and v]
