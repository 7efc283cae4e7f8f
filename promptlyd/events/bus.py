"""The event bus: publish without blocking, subscribe with a bounded queue."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptlyd.clock import Clock, SystemClock
from promptlyd.timeutil import iso

# Every event a subscriber may see, in the order the README lists them.
EVENT_TYPES: tuple[str, ...] = (
    "run.created", "run.started", "run.completed", "run.failed",
    "delivery.succeeded", "delivery.failed",
    "task.created", "task.updated", "task.deleted",
    "skill.changed", "source.tested",
)
DEFAULT_QUEUE = 4096  # per subscriber: 1,000 tasks due at once are 3,000 events


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``seq`` counts up from 1 per daemon start."""

    seq: int
    type: str
    data: Mapping[str, Any]  # small: ids and status; "type" and "at" included


@dataclass
class Dropped:
    """``count`` events did not fit the subscriber's queue at this point of the stream."""

    count: int = 1


class Idle:
    """Nothing arrived within the wait's timeout (time for a heartbeat)."""


IDLE = Idle()


class Subscription:
    """One consumer's bounded queue. ``next`` in order; ``close`` (or ``with``) to leave."""

    def __init__(self, bus: EventBus, types: Collection[str] | None, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a subscription's queue holds at least one event")
        self._bus = bus
        self.types = None if types is None else frozenset(types)
        self.maxsize = maxsize
        self._items: deque[Event | Dropped] = deque()
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0  # events lost to a full queue, in all

    def wants(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types

    def offer(self, event: Event) -> None:
        """Queue ``event`` (never blocks): when full, count it in a ``Dropped`` marker."""
        if self.closed or not self.wants(event.type):
            return
        if len(self._items) >= self.maxsize:
            self.dropped += 1
            self._bus.dropped += 1
            last = self._items[-1] if self._items else None
            if isinstance(last, Dropped):
                last.count += 1
            else:
                self._items.append(Dropped())  # one slot over maxsize at most
        else:
            self._items.append(event)
        self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._items)

    async def next(self, timeout: float | None = None) -> Event | Dropped | Idle | None:
        """The next event (or ``Dropped``); ``IDLE`` when nothing came within ``timeout``
        seconds; ``None`` once closed and drained (the end of the stream)."""
        while not self._items:
            if self.closed:
                return None
            self._ready.clear()
            if timeout is None:
                await self._ready.wait()
                continue
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                if not self._items and not self.closed:
                    return IDLE
        return self._items.popleft()

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        self._bus._leave(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class EventBus:
    """In-process publish/subscribe, on the event loop's thread only."""

    clock: Clock = field(default_factory=SystemClock)
    queue_size: int = DEFAULT_QUEUE
    published: int = 0  # for /health counters
    dropped: int = 0  # events lost to full queues, over every subscriber
    closed: bool = False
    _subs: set[Subscription] = field(default_factory=set)

    def publish(self, event_type: str, data: Mapping[str, Any]) -> Event:
        """Tell every subscriber that wants ``event_type``; never blocks."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r} (add it to EVENT_TYPES)")
        self.published += 1
        event = Event(self.published, event_type,
                      {"type": event_type, **data, "at": iso(self.clock.now())})
        for sub in list(self._subs):
            sub.offer(event)
        return event

    def subscribe(self, types: Collection[str] | None = None,
                  maxsize: int | None = None) -> Subscription:
        """A new subscription (to ``types``, else everything); closed at once if the bus is."""
        sub = Subscription(self, types, maxsize or self.queue_size)
        if self.closed:
            sub.closed = True
        else:
            self._subs.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def backlog(self) -> int:
        """The most events any one subscriber has not read yet."""
        return max((s.pending for s in self._subs), default=0)

    def close(self) -> None:
        """Shutting down: every subscription ends once drained; no new ones."""
        self.closed = True
        for sub in list(self._subs):
            sub.close()

    def _leave(self, sub: Subscription) -> None:
        self._subs.discard(sub)
