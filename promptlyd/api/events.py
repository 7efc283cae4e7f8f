"""``GET /api/promptly/events``: live events as Server-Sent Events (SPEC §11).

The subscription is made before the answer starts, so a client that has the
response headers misses nothing after them. While connected, a comment is sent
when ``heartbeat`` seconds pass without an event, so the client notices a dead
daemon (and the daemon a vanished client); with nobody connected there is no
timer at all. A client that reads too slowly never slows the daemon: its queue
is bounded, what does not fit is dropped and the client told (``event: dropped``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from promptlyd import __version__
from promptlyd.api.http import ctx_of, query_int
from promptlyd.events import Dropped, Event, Subscription, sse

log = logging.getLogger("promptlyd.api.events")

DEFAULT_HEARTBEAT = 15  # seconds
MAX_HEARTBEAT = 300
RETRY_MS = 2000


async def _stream(sub: Subscription, heartbeat: float) -> AsyncIterator[bytes]:
    try:
        yield sse.hello(__version__, RETRY_MS)
        while True:
            item = await sub.next(heartbeat)
            if item is None:
                return  # the daemon is stopping
            if isinstance(item, Event):
                yield sse.encode(item)
            elif isinstance(item, Dropped):
                log.warning("an events client reads too slowly: %d event(s) dropped",
                            item.count)
                yield sse.encode_dropped(item)
            else:
                yield sse.HEARTBEAT
    finally:
        sub.close()


class EventStream(StreamingResponse):
    """Leaves the bus however the answer ends (a client gone before the first byte too)."""

    def __init__(self, sub: Subscription, heartbeat: float) -> None:
        super().__init__(_stream(sub, heartbeat), media_type="text/event-stream",
                         headers={"cache-control": "no-cache"})
        self.sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.sub.close()


async def events(request: Request) -> Response:
    ctx = ctx_of(request)
    types = sse.parse_types(request.query_params.get("types"))
    heartbeat = query_int(request, "heartbeat", default=DEFAULT_HEARTBEAT,
                          maximum=MAX_HEARTBEAT)
    return EventStream(ctx.events.subscribe(types), heartbeat)


routes = [Route("/api/promptly/events", events, methods=["GET"])]
