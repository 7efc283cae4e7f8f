"""``/login?token=…`` (a one-time link → a session cookie) and ``/logout``."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.web.guard import COOKIE
from promptlyd.web.pages.common import page, redirect, session_of, web_of

log = logging.getLogger("promptlyd.web")


async def login(request: Request) -> Response:
    token = request.query_params.get("token")
    if not token:
        return page(request, "login.html", title="Log in", status=401, used=False)
    redeemed = web_of(request).sessions.redeem(token)
    if redeemed is None:
        log.warning("refused a dashboard login link that was used already or expired")
        return page(request, "login.html", title="Log in", status=403, used=True)
    cookie, _session = redeemed
    log.info("dashboard: a new session logged in")
    response = redirect("/")
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/")
    return response


async def logout(request: Request) -> Response:
    session = session_of(request)
    if session is not None:
        web_of(request).sessions.end(session)
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


routes = [
    Route("/login", login, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
