"""The Starlette application: routes, and errors in the API's one error shape."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from promptlyd.api import events, library, misc, tasks
from promptlyd.api.context import AppContext
from promptlyd.api.http import JSON, MAX_BODY
from promptlyd.api.limits import BodyLimit
from promptlyd.errors import PromptlydError

log = logging.getLogger("promptlyd.api")


async def _promptly_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PromptlydError)
    if exc.status >= 500 and exc.status != 501:
        log.error("request failed: %s %s: %s", request.method, request.url.path, exc.message)
    return JSON(exc.to_body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        body = {"type": "not_found",
                "message": f"no such endpoint: {request.method} {request.url.path}"}
    elif exc.status_code == 405:
        allowed = allowed_methods(request.app.routes, request.scope["path"])
        body = {"type": "method_not_allowed",
                "message": f"{request.method} is not allowed on {request.url.path} "
                           f"(allowed: {', '.join(allowed)})"}
        return JSON({"error": body}, status_code=405, headers={"Allow": ", ".join(allowed)})
    else:
        body = {"type": "http_error", "message": str(exc.detail)}
    return JSON({"error": body}, status_code=exc.status_code, headers=exc.headers)


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Iterable[BaseRoute], path: str) -> list[str]:
    """Every method some route serves on ``path`` (one route per method, so Starlette's
    own ``Allow`` lists only the first route's)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.path_regex.match(path) and route.methods:
            methods |= route.methods
    rank = {m: i for i, m in enumerate(_METHOD_ORDER)}
    return sorted(methods, key=lambda m: (rank.get(m, len(rank)), m))


async def _gone(request: Request, exc: Exception) -> Response:
    """The client went away (or was cut off) before sending its whole body: no one to
    answer, and not a bug."""
    log.debug("client left during %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def _bug(request: Request, exc: Exception) -> Response:
    log.exception("bug while serving %s %s", request.method, request.url.path)
    return JSON({"error": {"type": "internal_error",
                           "message": f"internal error: {type(exc).__name__}; see the daemon log"}},
                status_code=500)


async def _openapi(request: Request) -> Response:
    from promptlyd.api.openapi import document

    return JSON(document())


def create_app(ctx: AppContext) -> Starlette:
    routes = [
        *tasks.routes,
        *library.routes,
        *misc.routes,
        *events.routes,
        Route("/api/promptly/openapi.json", _openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BodyLimit, limit=MAX_BODY)],
        exception_handlers={
            PromptlydError: _promptly_error,
            HTTPException: _http_error,
            ClientDisconnect: _gone,
            Exception: _bug,
        },
    )
    app.state.ctx = ctx
    return app
