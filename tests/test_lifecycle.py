"""In-process, with a FakeClock: every run is made by one path (``new_run`` stored by
``Store.insert_run``), and the budget counts only the runs that ran — in the scheduler's
refusal and in ``/billing/status``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptlyd.api.app import create_app
from promptlyd.api.context import AppContext
from promptlyd.clock import FakeClock
from promptlyd.config import BudgetConfig, Config, load_config
from promptlyd.providers.catalog import Catalog
from promptlyd.providers.registry import ProviderRegistry
from promptlyd.runs import create as create_mod
from promptlyd.runs.executor import Runner
from promptlyd.scheduling.loop import Scheduler
from promptlyd.shapes.tasks import compute_next_run
from promptlyd.store import AsyncStore, Store
from promptlyd.timeutil import iso

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    config = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"})
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    clock = FakeClock(T0)
    catalog = Catalog.load()
    providers = ProviderRegistry(config.providers, {})
    runner = Runner(config=config, store=store, clock=clock, catalog=catalog,
                    providers=providers)
    sched = Scheduler(config=config, store=store, clock=clock, runner=runner)
    ctx = AppContext(config=config, store=store, clock=clock, catalog=catalog,
                     organization_id=str(uuid.uuid4()), started_at=T0, runner=runner)
    ctx.listeners.append(sched)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://promptlyd") as api:
        yield {"config": config, "store": store, "clock": clock, "runner": runner,
               "sched": sched, "ctx": ctx, "api": api}
    await runner.drain(10)
    await providers.aclose()
    store.close()


def with_budget(env: dict[str, Any], **budget: int) -> None:
    config: Config = env["config"].with_(budget=BudgetConfig(**budget))
    env["sched"].config = env["ctx"].config = env["runner"].config = config


async def add_task(env: dict[str, Any], **fields: Any) -> dict[str, Any]:
    now: datetime = env["clock"].now()
    row = {"id": str(uuid.uuid4()), "name": fields.pop("name", "t"), "prompt": "p",
           # no such provider: an executed run fails at once, without a network
           "model": "nowhere/m", "schedule": "hourly", "schedule_time": "08:00",
           "timezone": "UTC", "status": "active", "anchor_at": iso(now),
           "created_at": iso(now), "updated_at": iso(now), **fields}
    row["next_run_at"] = compute_next_run(row, now)
    await env["store"].write(lambda s: s.insert("tasks", row))
    env["sched"].task_changed(row["id"], row["next_run_at"])
    return row


async def settled(env: dict[str, Any]) -> None:
    async with asyncio.timeout(30):
        while env["runner"].busy:
            await asyncio.sleep(0.01)


async def test_scheduled_and_manual_runs_are_made_by_one_path(
        env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    stored: list[str] = []
    real_new_run, real_insert_run = create_mod.new_run, Store.insert_run

    def spy_new_run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        run = real_new_run(*args, **kwargs)
        built.append(run["id"])
        return run

    def spy_insert_run(self: Store, run: dict[str, Any]) -> bool:
        stored.append(run["id"])
        return real_insert_run(self, run)

    import promptlyd.runs.executor as executor_mod
    import promptlyd.scheduling.loop as loop_mod

    monkeypatch.setattr(executor_mod, "new_run", spy_new_run)
    monkeypatch.setattr(loop_mod, "new_run", spy_new_run)
    monkeypatch.setattr(Store, "insert_run", spy_insert_run)
    task = await add_task(env)
    scheduled = await env["sched"].step(env["clock"].now())
    await settled(env)
    manual = await env["runner"].run_now(task["id"])
    await settled(env)
    rows = await env["store"].read(lambda s: s.list_runs(task_id=task["id"]))
    assert {r["id"] for r in rows} == {scheduled[0]["id"], manual["id"]}
    assert sorted(built) == sorted(stored) == sorted(r["id"] for r in rows)
    assert {r["trigger"] for r in rows} == {"schedule", "manual"}
    assert {r["status"] for r in rows} == {"failed"}  # executed: the provider is unknown


async def test_refused_runs_do_not_count_toward_the_budget(env: dict[str, Any]) -> None:
    with_budget(env, runs_limit=2)
    task = await add_task(env)
    clock, sched = env["clock"], env["sched"]
    results = []
    for hour in range(4):  # 08:00 and 09:00 run; 10:00 and 11:00 are refused
        clock.set(T0 + timedelta(hours=hour))
        results.extend(await sched.step(clock.now()))
        await settled(env)
    assert [r["status"] for r in results] == ["running", "running", "failed", "failed"]
    message = ("budget exceeded: 2 runs this month (runs_limit 2); raise [budget] "
               "runs_limit in the config")
    assert [r.get("error") for r in results[2:]] == [message, message]
    rows = await env["store"].read(lambda s: s.list_runs(task_id=task["id"]))
    assert len(rows) == 4
    assert all(r.get("started_at") is None for r in rows if r["error"] == message)
    runs_used, _ = await env["store"].read(lambda s: s.usage_since(iso(T0)))
    assert runs_used == 2
    status = (await env["api"].get("/api/promptly/billing/status")).json()
    assert status["runsUsed"] == 2 and status["runsLimit"] == 2


async def test_many_due_together_stop_at_the_limit(env: dict[str, Any]) -> None:
    with_budget(env, runs_limit=2)
    for i in range(4):
        await add_task(env, name=f"t{i}")
    runs = await env["sched"].step(env["clock"].now())
    await settled(env)
    assert sorted(r["status"] for r in runs) == ["failed", "failed", "running", "running"]
    assert {r["error"] for r in runs if r["status"] == "failed"} == {
        "budget exceeded: 2 runs this month (runs_limit 2); raise [budget] runs_limit in "
        "the config"}
    status = (await env["api"].get("/api/promptly/billing/status")).json()
    assert status["runsUsed"] == 2


async def test_tasks_count_counts_completed_once_tasks(env: dict[str, Any]) -> None:
    await add_task(env, schedule="once", scheduled_date="2026-03-02", schedule_time="08:00")
    await add_task(env, name="paused", status="paused")
    assert (await env["api"].get("/api/promptly/billing/status")).json()["tasksCount"] == 2
    await env["sched"].step(env["clock"].now())  # the once runs and becomes completed
    await settled(env)
    statuses = await env["store"].read(lambda s: sorted(t["status"] for t in s.list_tasks()))
    assert statuses == ["completed", "paused"]
    assert (await env["api"].get("/api/promptly/billing/status")).json()["tasksCount"] == 2


async def test_a_manual_run_whose_request_is_cut_off_still_runs(env: dict[str, Any]) -> None:
    """Its write, once queued, commits (group commit): the run it made must be launched
    and executed even though the caller gave up waiting, not left pending."""
    import threading

    task = await add_task(env)
    store: AsyncStore = env["store"]
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30)

    held = store._writer_pool.submit(hold)  # the writer busy: the run's write queues
    assert await asyncio.to_thread(started.wait, 10)
    request = asyncio.ensure_future(env["runner"].run_now(task["id"]))
    async with asyncio.timeout(10):
        while not store._queue:
            await asyncio.sleep(0)
    request.cancel()  # the request is cut off while its write waits
    release.set()
    await asyncio.wrap_future(held)
    with pytest.raises(asyncio.CancelledError):
        await request
    async with asyncio.timeout(30):
        while not await store.read(lambda s: [
                r for r in s.list_runs(task_id=task["id"]) if r["status"] == "failed"]):
            await asyncio.sleep(0.01)
    await settled(env)
    [run] = await store.read(lambda s: s.list_runs(task_id=task["id"]))
    assert run["trigger"] == "manual"
    assert run["status"] == "failed" and "nowhere" in (run["error"] or "")  # it was executed
    assert task["id"] not in env["runner"].running
