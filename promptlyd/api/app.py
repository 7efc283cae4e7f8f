"""The Starlette application: routes, and errors in the API's one error shape."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.api import library, misc, tasks
from promptlyd.api.context import AppContext
from promptlyd.api.http import JSON
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
        body = {"type": "method_not_allowed",
                "message": f"{request.method} is not allowed on {request.url.path}"}
    else:
        body = {"type": "http_error", "message": str(exc.detail)}
    return JSON({"error": body}, status_code=exc.status_code, headers=exc.headers)


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
        Route("/api/promptly/openapi.json", _openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            PromptlydError: _promptly_error,
            HTTPException: _http_error,
            Exception: _bug,
        },
    )
    app.state.ctx = ctx
    return app
