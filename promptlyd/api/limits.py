"""The request body limit, as ASGI middleware: refused with 413 before it is read whole.

A declared ``Content-Length`` over the limit is answered at once, without reading
a byte of the body; a chunked body is counted as it arrives and refused as soon
as it passes the limit, so no more than ``limit`` bytes (plus one chunk) are ever
held. The rest of an unread body is discarded by the HTTP layer.
"""

from __future__ import annotations

import json
from typing import Any

from promptlyd.errors import TooLarge

Scope = dict[str, Any]
Message = dict[str, Any]


def too_large(limit: int, size: int | None = None) -> TooLarge:
    said = f"{size} bytes" if size is not None else "more than that"
    return TooLarge(f"request body is {said}; the limit is {limit} bytes — send less "
                    "(skills over 1 MB belong in files, not in one request)")


class BodyLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _answer(send, too_large(self.limit, declared))
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _answer(send: Any, error: TooLarge) -> None:
    body = json.dumps(error.to_body(), separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
