"""Live events: what happens in the daemon, as it happens (SPEC §11).

    subsystems ──publish──► EventBus ──offer──► Subscription (bounded queue, one per
                                                consumer: GET /api/promptly/events,
                                                the dashboard, tests)

``bus`` is the in-process API: ``publish(type, data)`` never blocks and never
fails (a full subscriber queue drops the event and counts it; the consumer is
told with a ``Dropped`` marker in order), ``subscribe(types)`` gives a
``Subscription`` to ``await next(timeout)`` from. ``changes`` turns what a
committed database write changed (runs, skills) into events, so every run
status change — whoever made it — is told exactly once and only once durable.
``sse`` writes events in the ``text/event-stream`` format.

Owns no I/O and no timers: a subscriber that waits with a timeout (the SSE
heartbeat) holds the only timer, and only while it is connected.
"""

from __future__ import annotations

from promptlyd.events.bus import (
    EVENT_TYPES,
    IDLE,
    Dropped,
    Event,
    EventBus,
    Idle,
    Subscription,
)

__all__ = ["EVENT_TYPES", "IDLE", "Dropped", "Event", "EventBus", "Idle", "Subscription"]
