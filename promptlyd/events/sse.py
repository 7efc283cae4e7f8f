"""The ``text/event-stream`` wire format (pure): what ``GET /api/promptly/events`` sends.

    id: 12
    event: run.completed
    data: {"type": "run.completed", "runId": "…", "taskId": "…", "status": "completed", …}

A comment line (``: heartbeat``) keeps a quiet connection alive; ``event: dropped``
says how many events a slow reader missed (re-read what it shows, then go on).
"""

from __future__ import annotations

import json

from promptlyd.errors import ValidationError
from promptlyd.events.bus import EVENT_TYPES, Dropped, Event

HEARTBEAT = b": heartbeat\n\n"
DROPPED = "dropped"


def encode(event: Event) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()


def encode_dropped(dropped: Dropped) -> bytes:
    data = json.dumps({
        "type": DROPPED, "count": dropped.count,
        "message": f"{dropped.count} event(s) did not fit this client's queue (it read too "
                   "slowly) and were dropped; re-read the state you show",
    }, separators=(",", ":"))
    return f"event: {DROPPED}\ndata: {data}\n\n".encode()


def hello(version: str, retry_ms: int) -> bytes:
    """The first bytes of a stream: a comment, and how soon an EventSource reconnects."""
    return f": promptlyd {version} events\nretry: {retry_ms}\n\n".encode()


def parse_types(raw: str | None) -> frozenset[str] | None:
    """``?types=run.completed,task.*``: names or ``group.*``; None (absent) for all."""
    if raw is None:
        return None
    wanted: set[str] = set()
    for part in (p.strip() for p in raw.split(",")):
        if part.endswith(".*") and any(t.startswith(part[:-1]) for t in EVENT_TYPES):
            wanted.update(t for t in EVENT_TYPES if t.startswith(part[:-1]))
        elif part in EVENT_TYPES:
            wanted.add(part)
        else:
            raise ValidationError(
                f"unknown event type {part!r} in types; known: {', '.join(EVENT_TYPES)} "
                "(or a group such as run.*), comma-separated", field="types")
    return frozenset(wanted)
