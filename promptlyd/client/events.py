"""Live events from ``GET /api/promptly/events`` (Server-Sent Events), for the client.

    with client.promptly.events.stream(types=["run.completed", "run.failed"]) as events:
        for event in events:
            print(event.type, event.data["runId"])

``parse_sse`` is the pure part: text lines in, ``LiveEvent``s out (the heartbeat
comment as a ``heartbeat`` event, other comments skipped). The stream's read
timeout is a few heartbeats, so a daemon that died without closing the connection
is noticed (``APITimeoutError``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptlyd.client.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    status_error,
)

if TYPE_CHECKING:
    import httpx

    from promptlyd.client import Promptly

DROPPED = "dropped"  # the daemon dropped ``data["count"]`` events this reader was too slow for
HEARTBEAT = "heartbeat"  # nothing happened for ``heartbeat`` seconds (the daemon is alive)


@dataclass(frozen=True)
class LiveEvent:
    type: str  # "run.started", …, "dropped" or "heartbeat"
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[LiveEvent]:
    """Events from ``text/event-stream`` lines (without their line ends)."""
    kind, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    payload = json.loads(text)
                except ValueError as exc:
                    raise APIResponseValidationError(
                        f"an event's data is not JSON: {text[:200]!r}") from exc
                yield LiveEvent(kind, payload if isinstance(payload, dict) else {"data": payload},
                                event_id)
            kind, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            if line[1:].strip() == HEARTBEAT:
                yield LiveEvent(HEARTBEAT)  # so a reader can check its own deadline
            continue  # other comments: the greeting
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id" and value.isdigit():
            event_id = int(value)


class EventStream:
    """An open stream: iterate for events; ``close`` (or ``with``) to hang up."""

    def __init__(self, client: Promptly, params: dict[str, Any], read_timeout: float) -> None:
        import httpx

        self._client = client
        http = client._client()
        request = http.build_request("GET", "/api/promptly/events", params=params,
                                     headers={"accept": "text/event-stream"},
                                     timeout=httpx.Timeout(client.timeout, read=read_timeout))
        self._read_timeout = read_timeout
        try:
            self._response: httpx.Response = http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise APITimeoutError("promptlyd did not answer GET /events in time") from exc
        except httpx.TransportError as exc:
            raise client._connect_error(exc) from exc
        if self._response.status_code >= 400:
            self._response.read()
            body: Any = None
            with contextlib.suppress(ValueError):
                body = self._response.json()
            self._response.close()
            raise status_error(self._response.status_code, body, self._response.text)

    def __iter__(self) -> Iterator[LiveEvent]:
        import httpx

        try:
            yield from parse_sse(self._response.iter_lines())
        except httpx.ReadTimeout as exc:
            raise APITimeoutError(
                f"promptlyd sent nothing for {self._read_timeout:g} s (not even a heartbeat): "
                "is it still running?") from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(f"the event stream from promptlyd broke: {exc}") from exc

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventsResource:
    """``client.promptly.events``: the live event stream (a promptlyd addition)."""

    def __init__(self, client: Promptly) -> None:
        self._client = client

    def stream(self, *, types: Iterable[str] | None = None, heartbeat: int = 15
               ) -> EventStream:
        """Open the stream (``types``: names or groups such as ``run.*``; None for all).
        Events published after this returns are all seen, in order."""
        params: dict[str, Any] = {"heartbeat": heartbeat}
        if types is not None:
            params["types"] = ",".join(types)
        return EventStream(self._client, params, read_timeout=heartbeat * 3 + 5)
