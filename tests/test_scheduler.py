"""The scheduler's decisions, exact and instant: a FakeClock, a real SQLite store,
and an in-memory twin of the executor (the ``runs.Executor`` role)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promptlyd.clock import FakeClock
from promptlyd.config import load_config
from promptlyd.runs import Executor
from promptlyd.runs.slots import Slots
from promptlyd.scheduling.loop import Scheduler
from promptlyd.shapes.tasks import compute_next_run
from promptlyd.store import AsyncStore
from promptlyd.timeutil import iso

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


class RecordingRunner:
    """The executor role: real slots, a running set, and launch() recorded instead of
    executed."""

    def __init__(self, size: int = 4) -> None:
        self.slots = Slots(size)
        self.running: dict[str, str] = {}
        self.launched: list[tuple[dict[str, Any], bool]] = []

    def running_task_ids(self) -> set[str]:
        return set(self.running)

    def take_slots(self, up_to: int) -> int:
        return self.slots.take_up_to(up_to)

    def give_slots(self, count: int) -> None:
        self.slots.give(count)

    def launch(self, run: dict[str, Any], *, claimed: bool) -> None:
        self.launched.append((run, claimed))


_: type[Executor] = RecordingRunner  # the twin plays the same role


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    config = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"})
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    clock = FakeClock(T0)
    runner = RecordingRunner()
    sched = Scheduler(config=config, store=store, clock=clock, runner=runner)
    yield {"config": config, "store": store, "clock": clock, "runner": runner, "sched": sched}
    store.close()


async def add_task(env: dict[str, Any], **fields: Any) -> dict[str, Any]:
    now: datetime = env["clock"].now()
    row = {"id": str(uuid.uuid4()), "name": fields.pop("name", "t"), "prompt": "p",
           "model": "ollama/x", "schedule": "daily", "timezone": "UTC", "status": "active",
           "anchor_at": iso(now), "created_at": iso(now), "updated_at": iso(now), **fields}
    row["next_run_at"] = compute_next_run(row, now)
    await env["store"].write(lambda s: s.insert("tasks", row))
    env["sched"].task_changed(row["id"], row["next_run_at"])
    return row


async def task_row(env: dict[str, Any], task_id: str) -> dict[str, Any]:
    return await env["store"].read(lambda s: s.get("tasks", task_id))


async def runs_of(env: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    return await env["store"].read(lambda s: s.list_runs(task_id=task_id))


async def test_fires_exactly_at_the_slot_and_advances(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule_time="09:30")
    sched, clock = env["sched"], env["clock"]
    assert sched.next_due() == T0.replace(hour=9, minute=30)
    clock.set(T0.replace(hour=9, minute=29, second=59))
    assert await sched.step(clock.now()) == []
    clock.set(T0.replace(hour=9, minute=30))
    runs = await sched.step(clock.now())
    assert len(runs) == 1
    run = runs[0]
    assert run["scheduled_for"] == "2026-03-02T09:30:00.000Z"
    assert run["trigger"] == "schedule" and run["status"] == "running"
    assert run["started_at"] == "2026-03-02T09:30:00.000Z"
    assert env["runner"].launched == [(run, True)]
    assert (await task_row(env, task["id"]))["next_run_at"] == "2026-03-03T09:30:00.000Z"
    assert sched.next_due() == datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    assert len(await runs_of(env, task["id"])) == 1


async def test_catch_up_runs_once_for_the_latest_missed_slot(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule="hourly", schedule_time="08:15")
    clock, sched = env["clock"], env["sched"]
    clock.set(T0.replace(hour=11, minute=20))  # 08:15, 09:15, 10:15, 11:15 all missed
    runs = await sched.step(clock.now())
    assert [r["scheduled_for"] for r in runs] == ["2026-03-02T11:15:00.000Z"]
    assert runs[0]["trigger"] == "catchup"
    assert (await task_row(env, task["id"]))["next_run_at"] == "2026-03-02T12:15:00.000Z"
    assert await sched.step(clock.now()) == []  # no burst of the others


async def test_no_catch_up_outside_the_window(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule_time="09:00", catch_up_window_hours=2.0)
    clock, sched = env["clock"], env["sched"]
    clock.set(T0.replace(day=5, hour=12))  # last slot 09:00 today: 3 h ago > 2 h window
    assert await sched.step(clock.now()) == []
    assert await runs_of(env, task["id"]) == []
    assert (await task_row(env, task["id"]))["next_run_at"] == "2026-03-06T09:00:00.000Z"
    # the config default (24 h) applies without the override
    other = await add_task(env, name="o", schedule_time="09:00")
    clock.set(datetime(2026, 3, 6, 20, tzinfo=UTC))
    runs = await sched.step(clock.now())
    assert {(r["task_id"], r["scheduled_for"]) for r in runs} == {
        (task["id"], "2026-03-06T09:00:00.000Z"), (other["id"], "2026-03-06T09:00:00.000Z")
    } - {(task["id"], "2026-03-06T09:00:00.000Z")}


async def test_a_config_window_of_0_never_catches_up(env: dict[str, Any]) -> None:
    """catch_up_window_hours = 0 in the config means what catchUpWindowHours: 0 does."""
    from dataclasses import replace

    sched = env["sched"]
    sched.config = replace(env["config"], catch_up_window_hours=0.0)
    task = await add_task(env, schedule="hourly", schedule_time="08:15")
    clock = env["clock"]
    clock.set(T0.replace(hour=11, minute=20))  # 11:15 missed by 5 minutes
    assert await sched.step(clock.now()) == []
    assert await runs_of(env, task["id"]) == []
    assert (await task_row(env, task["id"]))["next_run_at"] == "2026-03-02T12:15:00.000Z"
    clock.set(T0.replace(hour=12, minute=15))  # an on-time slot still runs
    assert [r["scheduled_for"] for r in await sched.step(clock.now())] == [
        "2026-03-02T12:15:00.000Z"]


async def test_overlap_skips_the_slot(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule="hourly", schedule_time="08:30")
    env["runner"].running[task["id"]] = "previous-run"
    env["clock"].set(T0.replace(hour=8, minute=30))
    assert await env["sched"].step(env["clock"].now()) == []
    assert await runs_of(env, task["id"]) == []
    assert (await task_row(env, task["id"]))["next_run_at"] == "2026-03-02T09:30:00.000Z"


async def test_once_completes(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule="once", scheduled_date="2026-03-02",
                          schedule_time="10:00")
    env["clock"].set(T0.replace(hour=10))
    runs = await env["sched"].step(env["clock"].now())
    assert len(runs) == 1
    row = await task_row(env, task["id"])
    assert row["status"] == "completed" and row["next_run_at"] is None
    assert env["sched"].next_due() is None


async def test_a_slot_is_served_at_most_once(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule_time="09:30")
    slot = "2026-03-02T09:30:00.000Z"
    await env["store"].write(lambda s: s.insert("runs", {
        "id": str(uuid.uuid4()), "task_id": task["id"], "status": "failed", "trigger": "schedule",
        "scheduled_for": slot, "created_at": slot, "error": "interrupted: daemon stopped"}))
    env["clock"].set(T0.replace(hour=9, minute=30))
    assert await env["sched"].step(env["clock"].now()) == []
    assert [r["scheduled_for"] for r in await runs_of(env, task["id"])] == [slot]
    assert env["runner"].slots.active == 0  # the slot it took was given back
    # and the schema itself refuses a duplicate
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        await env["store"].write(lambda s: s.insert("runs", {
            "id": str(uuid.uuid4()), "task_id": task["id"], "status": "pending",
            "trigger": "schedule", "scheduled_for": slot, "created_at": slot}))


async def test_concurrency_limit_leaves_the_rest_pending(env: dict[str, Any]) -> None:
    env["runner"].slots = Slots(2)
    tasks = [await add_task(env, name=f"t{i}", schedule_time="09:00") for i in range(5)]
    env["clock"].set(T0.replace(hour=9))
    runs = await env["sched"].step(env["clock"].now())
    assert len(runs) == 5
    assert sorted(r["status"] for r in runs) == ["pending"] * 3 + ["running"] * 2
    assert env["runner"].slots.active == 2
    assert {r["task_id"] for r in runs} == {t["id"] for t in tasks}


async def test_budget_exceeded_fails_fast(env: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"}).with_(
        budget=env["config"].budget.__class__(runs_limit=1))
    env["sched"].config = config
    task = await add_task(env, schedule="hourly", schedule_time="08:00")
    env["clock"].set(T0)
    first = await env["sched"].step(env["clock"].now())
    assert first[0]["status"] == "running"
    env["clock"].set(T0 + timedelta(hours=1))
    second = await env["sched"].step(env["clock"].now())
    assert second[0]["status"] == "failed" and "budget exceeded" in second[0]["error"]
    assert [r for r, _ in env["runner"].launched] == first  # the failed one is not executed
    assert len(await runs_of(env, task["id"])) == 2


async def test_changes_and_deletes_rearm_the_heap(env: dict[str, Any]) -> None:
    sched = env["sched"]
    a = await add_task(env, schedule_time="09:00")
    b = await add_task(env, name="b", schedule_time="10:00")
    assert sched.next_due() == T0.replace(hour=9)
    sched.task_deleted(a["id"])
    assert sched.next_due() == T0.replace(hour=10)
    sched.task_changed(b["id"], None)  # paused
    assert sched.next_due() is None
    sched.task_changed(b["id"], "2026-03-02T08:30:00.000Z")
    assert sched.next_due() == T0.replace(minute=30)


async def test_a_row_changed_since_queued_is_not_fired(env: dict[str, Any]) -> None:
    task = await add_task(env, schedule_time="09:00")
    # the task was paused in the database after the heap entry was made
    await env["store"].write(lambda s: s.update("tasks", task["id"], {"status": "paused"}))
    env["clock"].set(T0.replace(hour=9))
    assert await env["sched"].step(env["clock"].now()) == []
    assert await runs_of(env, task["id"]) == []


async def test_the_wal_is_checkpointed_off_the_writer(env: dict[str, Any], tmp_path: Path) -> None:
    """Autocheckpoint is off on the writer, yet the WAL stays bounded: every
    CHECKPOINT_EVERY writes a passive checkpoint runs on its own connection."""
    from promptlyd.store import db as dbmod

    store: AsyncStore = env["store"]
    assert await store.write(lambda s: s.conn.execute(
        "PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
    wal = tmp_path / "p.db-wal"
    per_batch = 0
    for batch in range(6):
        for i in range(dbmod.CHECKPOINT_EVERY):
            await store.write(lambda s, i=i, b=batch: s.set_meta(f"k{i}", f"{b}" * 8000))
        store._checkpoint_pool.submit(lambda: None).result()  # the queued checkpoint ran
        if batch == 0:
            per_batch = wal.stat().st_size
    # without checkpoints the WAL would hold all six batches; with them it starts over
    # after each — SQLite may now and then find the restart busy and append one batch
    # more (this test saw 2.1 batches once in a loaded suite), so three is the bound
    assert wal.stat().st_size < 3 * per_batch


async def test_one_broken_task_does_not_stop_the_others(env: dict[str, Any]) -> None:
    good = await add_task(env, name="good", schedule_time="09:00")
    bad = await add_task(env, name="bad", schedule_time="09:00")
    # a row the schedule math cannot read (written behind the API's back)
    await env["store"].write(lambda s: s.conn.execute(
        "UPDATE tasks SET timezone = 'Nowhere/Land' WHERE id = ?", [bad["id"]]))
    env["clock"].set(T0.replace(hour=9))
    runs = await env["sched"].step(env["clock"].now())
    assert [r["task_id"] for r in runs] == [good["id"]]
    assert await runs_of(env, bad["id"]) == []
    assert env["runner"].slots.active == 1  # only the good run holds a slot
    assert env["sched"].next_due() == datetime(2026, 3, 3, 9, tzinfo=UTC)  # good's next
    assert (await task_row(env, bad["id"]))["next_run_at"] == "2026-03-02T09:00:00.000Z"


async def test_the_loop_survives_a_failing_step(env: dict[str, Any]) -> None:
    """An exception in a step is logged; the loop reloads the schedule and goes on."""
    from promptlyd.clock import SystemClock
    from promptlyd.scheduling.waker import SleepWaker

    sched: Scheduler = env["sched"]
    sched.clock = SystemClock()
    sched.waker = SleepWaker()
    calls = 0
    real_step = sched.step

    async def flaky(now: datetime) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return await real_step(now)

    sched.step = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(sched.run())
    try:
        async with asyncio.timeout(5):
            while calls < 2:
                await asyncio.sleep(0.01)
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
