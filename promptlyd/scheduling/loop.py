"""The wake loop: sleep until the earliest due task, fire it, repeat.

A heap holds each active task's next fire instant (loaded once at start,
updated by every API change through ``task_changed``). The loop sleeps on a
``Waker`` until the heap's top is due, a change wakes it early, or the wall
clock jumps. Nothing polls the database: while idle the daemon does no work.

Everything due at one wake-up is claimed in ONE write transaction (runs
inserted, each task's next instant stored), so a burst of a thousand due tasks
costs one commit. The slots are taken from the executor before the claim (as
many as are free, up to the number due) and what the claim did not start a run
with goes back after it; the claim itself only counts. The scheduler talks to
the executor through the ``runs.Executor`` role, nothing else. Per task and
wake-up, the rule is:

- the slot served is the LATEST one due (after downtime or a suspend, at most
  one catch-up run per task — never a burst);
- a slot older than the task's catch-up window (config, per-task override) is
  skipped, logged;
- a slot due while the task's previous run still runs is skipped, logged;
- with the month's budget exhausted, the run is recorded failed "budget exceeded"
  (refused: it never starts and does not count as a run used);
- ``once`` tasks become ``completed`` (``nextRunAt`` null);
- a slot is served at most once: the runs table's UNIQUE (task, slot) refuses
  a second run for it, even across crashes.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from promptlyd.config import Config
from promptlyd.runs.create import new_run
from promptlyd.runs.states import RunStatus, Trigger
from promptlyd.scheduling.triggers import latest_fire, next_fire
from promptlyd.shapes.tasks import spec_of
from promptlyd.store import AsyncStore
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso, month_start, parse_iso

if TYPE_CHECKING:
    from promptlyd.clock import Clock
    from promptlyd.runs import Executor, Outbox
    from promptlyd.scheduling.waker import Waker

log = logging.getLogger("promptlyd.scheduler")

CATCHUP_AFTER = timedelta(seconds=60)  # later than this, a run is labelled a catch-up
_EPS = timedelta(microseconds=1)


class WakeHook(Protocol):
    """Something else the wake loop wakes for (the systemd watchdog): folded into the
    same sleep, so nothing else ticks — and nothing at all when there are no hooks."""

    def next_wake(self) -> datetime | None:
        """When the loop must wake for this hook next (wall clock), or None."""
        ...

    def woke(self) -> None:
        """The loop woke (for whatever reason): do what is due."""
        ...


@dataclass
class Claim:
    """What one wake-up decided (built in the writer thread, acted on in the loop)."""

    slots: int  # slots taken for this claim: the first this many runs start running
    runs: list[Row] = field(default_factory=list)
    next_due: dict[str, datetime | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    claimed: int = 0  # runs that start holding one of the claim's slots (counted on add)

    def add(self, run: Row) -> None:
        self.runs.append(run)
        if run["status"] == RunStatus.RUNNING:
            self.claimed += 1

    def drop_from(self, kept: int) -> None:
        """Forget the runs added after the first ``kept`` (their savepoint rolled back)."""
        self.claimed -= sum(1 for r in self.runs[kept:] if r["status"] == RunStatus.RUNNING)
        del self.runs[kept:]


class Scheduler:
    def __init__(self, *, config: Config, store: AsyncStore, clock: Clock, runner: Executor,
                 waker: Waker | None = None, outbox: Outbox | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.runner = runner
        self.waker = waker
        self.outbox = outbox  # refused (budget) runs are delivered as failures too
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self.wakeups = 0  # how many times the loop woke (for tests and the idle figure)
        self.hooks: list[WakeHook] = []

    async def apply(self, config: Config) -> None:
        """A reloaded config: catch-up window, budget and zone from the next wake-up on."""
        self.config = config

    # --- told by the API -------------------------------------------------------------

    def task_changed(self, task_id: str, next_run_at: str | None) -> None:
        self._set(task_id, None if next_run_at is None else parse_iso(next_run_at))
        self._wake.set()

    def task_deleted(self, task_id: str) -> None:
        self._set(task_id, None)
        self._wake.set()

    def _set(self, task_id: str, when: datetime | None) -> None:
        if when is None:
            self._due.pop(task_id, None)
            return
        self._due[task_id] = when
        heapq.heappush(self._heap, (when, task_id))

    def next_due(self) -> datetime | None:
        """The earliest instant something is due (stale heap entries dropped)."""
        while self._heap:
            when, task_id = self._heap[0]
            if self._due.get(task_id) == when:
                return when
            heapq.heappop(self._heap)
        return None

    def upcoming(self) -> list[tuple[datetime, str]]:
        return sorted((w, t) for t, w in self._due.items())

    @property
    def scheduled(self) -> int:
        """How many tasks have a next instant."""
        return len(self._due)

    def _next_wake(self) -> datetime | None:
        instants = [w for w in (self.next_due(), *(h.next_wake() for h in self.hooks))
                    if w is not None]
        return min(instants, default=None)

    # --- the loop -------------------------------------------------------------------------

    async def load(self) -> int:
        rows = await self.store.read(lambda s: s.scheduled_tasks())
        for task_id, next_run_at in rows:
            self._set(task_id, parse_iso(next_run_at))
        return len(rows)

    async def run(self) -> None:
        """Fire what is due, sleep until the next, forever (cancel to stop)."""
        assert self.waker is not None
        while not self._stopping:
            self._wake.clear()
            try:
                await self.step(self.clock.now())
                for hook in self.hooks:
                    hook.woke()
                if self._stopping:
                    break
                reason = await self.waker.wait(self._next_wake(), self._wake)
                self.wakeups += 1
                if reason == "jump":
                    log.info("the wall clock jumped: re-checking what is due")
            except Exception:  # never let one bad wake-up end all scheduling
                log.exception("a scheduler step failed; reloading the schedule in 1 s")
                await asyncio.sleep(1)
                self._heap.clear()
                self._due.clear()
                try:
                    await self.load()
                except Exception:
                    log.exception("reloading the schedule failed; trying again")

    def request_stop(self) -> None:
        """Finish the current wake-up (a claim is never cut in half), then leave ``run``."""
        self._stopping = True
        self._wake.set()

    async def step(self, now: datetime) -> list[Row]:
        """Claim and launch every task due at ``now``; returns the runs created."""
        due: list[tuple[str, datetime]] = []
        while (top := self.next_due()) is not None and top <= now:
            when, task_id = heapq.heappop(self._heap)
            del self._due[task_id]
            due.append((task_id, when))
        if not due:
            return []
        running = set(self.runner.running_task_ids())
        taken = self.runner.take_slots(len(due))
        try:
            claim = await self.store.write(lambda s: self._claim(s, due, running, taken, now))
        except BaseException:
            # the claim failed (nothing committed), or shutdown cancelled the wait for it
            # (what it committed anyway is failed as interrupted at the next start):
            # either way every slot goes back
            self.runner.give_slots(taken)
            raise
        self.runner.give_slots(taken - claim.claimed)  # what the claim did not use
        for task_id, following in claim.next_due.items():
            # an entry here now came from the API during the claim: it is newer, keep it
            if task_id not in self._due:
                self._set(task_id, following)
        for run in claim.runs:
            if run["status"] != RunStatus.FAILED:
                self.runner.launch(run, claimed=run["status"] == RunStatus.RUNNING)
        if self.outbox is not None and any(r["status"] == RunStatus.FAILED for r in claim.runs):
            self.outbox.wake()  # refused runs were handed to delivery in the claim
        return claim.runs

    def _claim(self, store: Store, due: list[tuple[str, datetime]], running: set[str],
               slots: int, now: datetime) -> Claim:
        """Runs in the writer thread, inside one transaction."""
        claim = Claim(slots=slots)
        created = self.clock.now()  # one instant for the claim's runs (created, started)
        usage = self._usage(store, now)
        for task_id, when in due:
            kept, used = len(claim.runs), None if usage is None else list(usage)
            try:
                with store.savepoint("task"):
                    self._claim_one(store, claim, task_id, when, running, now, created,
                                    usage)
            except Exception:
                claim.drop_from(kept)  # rolled back: the run is not there
                if usage is not None and used is not None:
                    usage[:] = used
                claim.next_due[task_id] = None
                log.exception("task %s could not be scheduled; it stays unscheduled until "
                              "it is changed", task_id[:8])
        return claim

    def _claim_one(self, store: Store, claim: Claim, task_id: str, when: datetime,
                   running: set[str], now: datetime, created: datetime,
                   usage: list[float] | None) -> None:
        """One due task: decide, record the run (if any) and its next instant."""
        task = store.get("tasks", task_id)
        if task is None or task["status"] != "active" or not task["next_run_at"]:
            return  # deleted, paused or completed since it was queued
        if task["next_run_at"] != iso(when):
            # changed since it was queued: the database's instant is the truth
            claim.next_due[task_id] = parse_iso(task["next_run_at"])
            return
        spec = spec_of(task)
        slot = latest_fire(spec, now, when - _EPS) or when
        following = next_fire(spec, now)
        changes: Row = {"next_run_at": None if following is None else iso(following)}
        if following is None:
            changes["status"] = "completed"
        window = task.get("catch_up_window_hours")
        window_h = self.config.catch_up_window_hours if window is None else window
        late = now - slot
        label = f"task {task_id[:8]} ({task['name']}) slot {iso(slot)}"
        if late > max(timedelta(hours=window_h), CATCHUP_AFTER):  # 0 h: on-time runs only
            log.info("%s skipped: missed by %s, outside the %g h catch-up window",
                     label, _human(late), window_h)
            claim.skipped.append(task_id)
        elif task_id in running:
            log.warning("%s skipped: the previous run is still running", label)
            claim.skipped.append(task_id)
        else:
            refused = self._over_budget(usage)
            run = new_run(task_id, now=created, scheduled_for=slot,
                          trigger=Trigger.CATCHUP if late > CATCHUP_AFTER else Trigger.SCHEDULE,
                          claimed=refused is None and claim.claimed < claim.slots,
                          refused=refused)
            if not store.insert_run(run):  # the UNIQUE (task, slot): served already
                log.info("%s already served: not running it twice", label)
            else:
                claim.add(run)
                if usage is not None and refused is None:
                    usage[0] += 1  # N tasks due together cannot overshoot runs_limit
                if refused is not None:
                    log.warning("%s not run: %s", label, refused)
                    if self.outbox is not None:  # a failure is never silent: deliver it too
                        self.outbox.enqueue(store, run)
        store.update("tasks", task_id, changes)
        claim.next_due[task_id] = following

    def _usage(self, store: Store, now: datetime) -> list[float] | None:
        """[runs, cents] this month when a budget is set (counted on as runs are added)."""
        budget = self.config.budget
        if budget.runs_limit is None and budget.monthly_budget_cents is None:
            return None
        runs, cost = store.usage_since(iso(month_start(now, self.config.timezone)))
        return [runs, cost]

    def _over_budget(self, usage: list[float] | None) -> str | None:
        if usage is None:
            return None
        budget = self.config.budget
        runs, cost = int(usage[0]), usage[1]
        if budget.runs_limit is not None and runs >= budget.runs_limit:
            return (f"budget exceeded: {runs} runs this month (runs_limit {budget.runs_limit}); "
                    "raise [budget] runs_limit in the config")
        if budget.monthly_budget_cents is not None and cost >= budget.monthly_budget_cents:
            return (f"budget exceeded: {cost:.2f} cents spent this month (monthly_budget_cents "
                    f"{budget.monthly_budget_cents}); raise it in the config")
        return None


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
