"""The delivery worker: sends what the outbox holds, on the retry schedule, across
restarts (pending rows are in the database; a daemon that starts picks them up).

    run finishes ─► enqueue (same transaction) ─► wake ─► tick: send every due row
        ─► record the attempt and the run's summary (one write) ─► sleep until the
        next due row, or until woken (a new run, a redeliver, a config reload)

A send under way when the daemon stops is not recorded: the row stays pending
and is sent again after the restart (receivers de-duplicate on ``webhook-id``).
A send under way when its run is redelivered is not recorded either: the
redelivery wins (the row stays pending, due now) and the row is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.destinations import outbox
from promptlyd.destinations.base import Attempt, Message, Outcome, SecretLookup
from promptlyd.destinations.registry import Destinations
from promptlyd.destinations.render import payload_run
from promptlyd.destinations.retry import after_attempt
from promptlyd.destinations.targets import mask
from promptlyd.errors import Conflict, NotFound
from promptlyd.runs.states import FINISHED, OutboxStatus
from promptlyd.shapes.runs import run_to_api
from promptlyd.shapes.skills import skill_to_api
from promptlyd.shapes.sources import source_to_api
from promptlyd.shapes.tasks import task_to_api
from promptlyd.store import AsyncStore
from promptlyd.store import outbox as sql
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso, parse_iso

log = logging.getLogger("promptlyd.delivery")

Wait = Callable[[asyncio.Event, "float | None"], Awaitable[None]]
MAX_IN_FLIGHT = 8


async def wait_event(event: asyncio.Event, timeout: float | None) -> None:
    """Until ``event`` is set or ``timeout`` seconds pass (None: until set)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


class DeliveryWorker:
    def __init__(self, *, config: Config, store: AsyncStore, clock: Clock,
                 secrets: SecretLookup, organization_id: str, user_id: str,
                 destinations: Destinations | None = None, wait: Wait = wait_event,
                 redact: Callable[[str], str] | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.organization_id = organization_id
        self.user_id = user_id
        self.destinations = destinations or Destinations(config, secrets, clock)
        self._wait = wait
        # the key store's redactor: a receiver's answer quoting a credential (an SMS
        # provider echoing its token) is not stored as the delivery's lastError
        self._redact = redact
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._run_of: dict[str, str] = {}  # delivery id in flight → its run id
        self._superseded: set[str] = set()  # in flight when their run was redelivered
        # sends that ended, by the order they ended in: a tick whose read began before
        # one ended may see its row still pending (the reader's snapshot predates the
        # write recording the result) and must not send it again
        self._ended: dict[str, int] = {}
        self._ends = 0
        self._loop: asyncio.Task[None] | None = None
        self.attempts = 0  # for /health counters

    # --- the executor's hand-off (inside the run's final write) ---------------------

    def enqueue(self, store: Store, run: Row) -> Row | None:
        return outbox.enqueue(store, run, self.clock.now())

    def wake(self) -> None:
        self._wake.set()

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Cancel the loop and the sends under way (they stay pending for the next start)."""
        tasks = [t for t in (self._loop, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None
        await self.destinations.aclose()

    async def apply(self, config: Config) -> None:
        """A new config (reload): new senders, and the schedule applies to the next attempt."""
        self.config = config
        await self.destinations.apply(config)
        self.wake()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.tick()
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("delivery worker: tick failed; trying again in 5 s")
                delay = 5.0
            await self._wait(self._wake, delay)

    # --- one pass -----------------------------------------------------------------

    async def tick(self) -> float | None:
        """Start sending every due row; seconds until the next one is due (None: none)."""
        now = self.clock.now()
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return None  # a finishing send wakes us
        ends_before = self._ends
        busy = set(self._in_flight)
        # the rows in flight are left out in the query; a few more than there is room
        # for, as sends ending during the read may come back still pending (skipped)
        due = await self.store.read(
            lambda s: sql.due_deliveries(s, iso(now), room + 8, exclude=busy))
        ended_since = {d for d, n in self._ended.items() if n > ends_before}
        self._ended = {d: self._ended[d] for d in ended_since}  # older ones: read saw them
        for row in due:
            if (row["id"] in self._in_flight or row["id"] in ended_since
                    or len(self._in_flight) >= MAX_IN_FLIGHT):
                continue  # an ended one's wake-up brings a tick that reads it afresh
            task = asyncio.create_task(self._deliver(row), name=f"deliver-{row['id'][:8]}")
            self._in_flight[row["id"]] = task
            self._run_of[row["id"]] = row["run_id"]
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            return None  # a finishing send wakes us
        busy = set(self._in_flight)
        nxt = await self.store.read(lambda s: sql.next_due_at(s, exclude=busy))
        if nxt is None:
            return None
        return max(0.0, (parse_iso(nxt) - self.clock.now()).total_seconds())

    async def settle(self) -> None:
        """Wait for the sends under way (tests)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _deliver(self, row: Row) -> None:
        try:
            message = await self.store.read(lambda s: self._message(s, row))
            if message is None:
                return
            try:
                attempt = await self.destinations.send(row["type"], message)
            except Exception as exc:  # a bug in a sender: retry on the schedule, say why
                log.exception("delivery %s: the %s sender crashed", row["id"][:8], row["type"])
                attempt = Attempt(Outcome.RETRY, None,
                                  f"internal error: {type(exc).__name__}: {exc}")
            self.attempts += 1
            if attempt.detail and self._redact is not None:
                attempt = replace(attempt, detail=self._redact(attempt.detail))
            if row["id"] in self._superseded:  # redelivered meanwhile: it is due again
                log.info("run %s: a send to %s finished after a redeliver; sending again",
                         row["run_id"][:8], row["type"])
                return
            now = self.clock.now()
            attempts = row["attempts"] + 1
            step = after_attempt(attempt, attempts, self.config.delivery.retry_schedule_seconds,
                                 now)
            await self.store.write(
                lambda s: outbox.record(s, row, attempts, attempt, step, now))
            target = mask(row["type"], row["target"])
            if step.status == OutboxStatus.DELIVERED:
                log.info("run %s delivered to %s %s (attempt %d)", row["run_id"][:8],
                         row["type"], target, attempts)
            elif step.status == OutboxStatus.FAILED:
                log.warning("run %s: delivery to %s %s failed: %s", row["run_id"][:8],
                            row["type"], target, step.detail)
            else:
                log.info("run %s: delivery to %s %s will be retried at %s: %s",
                         row["run_id"][:8], row["type"], target,
                         iso(step.next_attempt_at) if step.next_attempt_at else "?",
                         attempt.detail)
        finally:
            self._ends += 1
            self._ended[row["id"]] = self._ends
            self._in_flight.pop(row["id"], None)
            self._run_of.pop(row["id"], None)
            self._superseded.discard(row["id"])
            self.wake()

    def _message(self, store: Store, row: Row) -> Message | None:
        run = store.get("runs", row["run_id"])
        task = store.get("tasks", row["task_id"])
        if run is None or task is None:
            return None
        skill_links, source_links = store.task_links([task["id"]])
        skills = store.get_many("skills", skill_links.get(task["id"], []))
        sources = store.get_many("sources", source_links.get(task["id"], []))
        org = self.organization_id
        task_api = task_to_api(
            task, organization_id=org, user_id=self.user_id,
            skills=[skill_to_api(skills[i], organization_id=org)
                    for i in skill_links.get(task["id"], []) if i in skills],
            sources=[source_to_api(sources[i], organization_id=org)
                     for i in source_links.get(task["id"], []) if i in sources])
        finished = run.get("completed_at") or row["created_at"]
        return Message(message_id=outbox.message_id(row["id"]), event=row["event"],
                       target=row["target"], label=row.get("label"), task=task_api,
                       run=payload_run(run_to_api(run)), timestamp=parse_iso(finished))

    # --- redeliver ------------------------------------------------------------------

    async def redeliver(self, run_id: str) -> dict[str, Any]:
        """Re-queue every destination of a finished run; the run as the API shows it."""
        now = self.clock.now()
        # before the write: an attempt in flight must not record its result over the
        # requeue, whichever of the two writes lands first
        self._superseded.update(d for d, r in self._run_of.items() if r == run_id)

        def tx(store: Store) -> Row:
            run = store.get("runs", run_id)
            if run is None:
                raise NotFound(f"no run with id {run_id!r}", field="runId")
            if run["status"] not in FINISHED:
                raise Conflict(f"run {run_id} is still {run['status']}; redeliver it once it "
                               "has finished", field="runId")
            if outbox.requeue(store, run, now) == 0:
                raise Conflict("this run's task has no destinations; add one (destinations, "
                               "or deliveryEmail/deliverySms) and redeliver", field="runId")
            found = store.get("runs", run_id)
            assert found is not None
            return found

        row = await self.store.write(tx)
        log.info("run %s: redelivery queued", run_id[:8])
        self.wake()
        return run_to_api(row)
