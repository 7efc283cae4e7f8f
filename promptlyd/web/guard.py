"""What every request to the dashboard passes, before pages or the API see it.

In order: the ``Host`` header must name the listener (a DNS-rebinding page
cannot talk to it); ``/api/promptly/dashboard/…`` is socket-only (404 here);
everything but ``/login`` and ``/static/`` needs a live session cookie (else the
API answers 401 and a page says how to log in); a request that changes
something (not GET/HEAD) must carry the session's CSRF token — the
``X-CSRF-Token`` header, or a ``csrf`` form field — and a foreign ``Origin`` is
refused. Every answer gets a strict Content-Security-Policy and no-store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from promptlyd.web.auth import Sessions

COOKIE = "promptly_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
API_PREFIX = "/api/promptly/"
SOCKET_ONLY = "/api/promptly/dashboard/"
MAX_FORM = 5_000_000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make Origin "null"
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
LOGIN_HINT = "log in first: run `promptly dashboard` and open the link it prints"

ASGIApp = Callable[..., Any]


def _json(status: int, kind: str, message: str) -> tuple[int, bytes, bytes]:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    return status, body, b"application/json"


class Guard:
    def __init__(self, *, pages: ASGIApp, api: ASGIApp, sessions: Sessions,
                 hosts: set[str] | None, refusal_page: Callable[[int, str], str]) -> None:
        self.pages = pages
        self.api = api
        self.sessions = sessions
        self.hosts = hosts  # None: any Host (allow_remote on a wildcard address)
        self.origins = {f"http://{h}" for h in hosts or ()}
        self.refusal_page = refusal_page

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        send = _with_headers(send)
        headers = Headers(scope=scope)
        path: str = scope["path"]
        is_api = path.startswith(API_PREFIX)

        async def refuse(status: int, kind: str, message: str) -> None:
            if is_api:
                await _answer(send, *_json(status, kind, message))
            else:
                page = self.refusal_page(status, message).encode()
                await _answer(send, status, page, b"text/html; charset=utf-8")

        if self.hosts is not None and headers.get("host", "") not in self.hosts:
            await refuse(400, "bad_host", "this address is not the dashboard's; open the "
                         "link `promptly dashboard` prints")
            return
        if path.startswith(SOCKET_ONLY):
            await refuse(404, "not_found", "this endpoint is only served on the daemon's "
                         "socket")
            return
        public = not is_api and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES))
        session = None
        if not public:
            cookies = cookie_parser(headers.get("cookie", ""))
            session = self.sessions.lookup(cookies.get(COOKIE))
            if session is None:
                await refuse(401, "unauthorized", LOGIN_HINT)
                return
        if scope["method"] not in SAFE_METHODS and session is not None:
            origin = headers.get("origin")
            if origin is not None and origin not in self.origins and self.hosts is not None:
                await refuse(403, "forbidden", f"a request from {origin} is not allowed")
                return
            token = headers.get(CSRF_HEADER)
            if token is None and not is_api and headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                body = await _read_body(receive)
                if body is None:
                    await refuse(413, "too_large", f"a form is limited to {MAX_FORM} bytes")
                    return
                sent = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
                token = sent[0] if sent else None
                receive = _replay(body, receive)
            if not session.csrf_ok(token):
                await refuse(403, "csrf", "this request has no valid CSRF token; reload the "
                             "page and try again")
                return
        scope.setdefault("state", {})["session"] = session
        await (self.api if is_api else self.pages)(scope, receive, send)


def _with_headers(send: Any) -> Any:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *[(k, v) for k, v in HEADERS if k not in names]]
        await send(message)
    return wrapped


async def _answer(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Any) -> Any:
    """A ``receive`` that hands the body read already, then what the client sends next."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await original()
        return message
    return receive
