"""Telling systemd how the daemon is: ``STATUS=`` kept current, ``WATCHDOG=1`` on time.

``Watchdog`` is a wake hook of the scheduler's loop (``scheduling.loop.WakeHook``):
when ``WATCHDOG_USEC`` asks for one, the loop's next wake-up is the earlier of
the next due task and half the watchdog interval, so the same sleep serves both
and no other timer exists; without it, nothing changes. ``StatusReporter``
listens to the event bus and sends a one-line summary (``status_line``) when it
changes: tasks scheduled, the next due instant, runs running and pending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from promptlyd.clock import Clock
from promptlyd.events import Event, EventBus

if TYPE_CHECKING:
    from promptlyd.scheduling.loop import Scheduler

log = logging.getLogger("promptlyd.notify")

Send = Callable[[str], object]


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WATCHDOG_USEC``), or None when
    systemd asks for none (or asks another process: ``WATCHDOG_PID``)."""
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a whole number of microseconds", raw)
        return None
    return usec / 2_000_000 if usec > 0 else None


class Watchdog:
    """Pings every ``interval`` seconds (monotonic), woken by the scheduler's loop."""

    def __init__(self, interval: float, send: Send, clock: Clock) -> None:
        self.interval = interval
        self.send = send
        self.clock = clock
        self.pings = 0
        self._last: float | None = None

    def _remaining(self) -> float:
        if self._last is None:
            return 0.0
        return self._last + self.interval - self.clock.monotonic()

    def next_wake(self) -> datetime | None:
        return self.clock.now() + timedelta(seconds=max(0.0, self._remaining()))

    def woke(self) -> None:
        if self._remaining() <= self.interval * 0.01:  # due (within 1 %: a timer's slack)
            self.send("WATCHDOG=1")
            self.pings += 1
            self._last = self.clock.monotonic()


def status_line(*, scheduled: int, next_due: datetime | None, running: int, pending: int,
                now: datetime) -> str:
    """``3 tasks scheduled, next 2026-12-01 07:30 UTC (in 12 min); 1 run running, 0 pending``"""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    head = n(scheduled, "task") + " scheduled"
    if next_due is not None:
        head += f", next {next_due:%Y-%m-%d %H:%M} UTC ({_in(next_due - now)})"
    return f"{head}; {n(running, 'run')} running, {pending} pending"


def _in(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "due now" if seconds <= 0 else f"in {seconds} s"
    if seconds < 7200:
        return f"in {seconds // 60} min"
    if seconds < 172800:
        return f"in {seconds / 3600:.1f} h"
    return f"in {seconds // 86400} days"


class StatusReporter:
    """Sends ``STATUS=`` on start and whenever a run or task event changes the line."""

    def __init__(self, bus: EventBus, scheduler: Scheduler, send: Send, clock: Clock) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.send = send
        self.clock = clock
        self._runs: dict[str, str] = {}  # run id → "pending" | "running"
        self._sent: str | None = None

    def line(self) -> str:
        running = sum(1 for s in self._runs.values() if s == "running")
        return status_line(scheduled=self.scheduler.scheduled, next_due=self.scheduler.next_due(),
                           running=running, pending=len(self._runs) - running,
                           now=self.clock.now())

    def report(self) -> None:
        line = self.line()
        if line != self._sent:
            self.send(f"STATUS={line}")
            self._sent = line

    def note(self, event: Event) -> None:
        run_id = event.data.get("runId")
        if not isinstance(run_id, str):
            return
        if event.type == "run.created":
            self._runs.setdefault(run_id, "pending")
        elif event.type == "run.started":
            self._runs[run_id] = "running"
        elif event.type in ("run.completed", "run.failed"):
            self._runs.pop(run_id, None)

    async def run(self) -> None:
        """Until the bus closes. Each batch of events: one line, sent if it changed."""
        with self.bus.subscribe(("run.created", "run.started", "run.completed", "run.failed",
                                 "task.created", "task.updated", "task.deleted")) as sub:
            self.report()
            while True:
                item = await sub.next(None)
                if item is None:
                    return
                while item is not None:
                    if isinstance(item, Event):
                        self.note(item)
                    item = await sub.next(0) if sub.pending else None
                await asyncio.sleep(0)  # let the scheduler re-arm its heap first
                self.report()
