"""The scheduler in the real daemon: wake-up precision, catch-up across downtime,
kill -9 mid-run. Downtime is simulated by editing the stopped daemon's database
(the 'last planned slot' a daemon would have left behind), never while it runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.daemon_proc import wait_for
from tests.fakes.model_servers import OpenAIServer, reply, running, slow
from tests.rows import db_path, iso


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def config_for(oai: OpenAIServer) -> str:
    return (f'timezone = "UTC"\n[providers.fake]\nkind = "openai"\n'
            f'base_url = "{oai.base_url}"\nlocal = true\n')


def set_next_run(daemon: Any, task_id: str, when: datetime) -> None:
    conn = sqlite3.connect(db_path(daemon))
    with conn:
        conn.execute("UPDATE tasks SET next_run_at = ? WHERE id = ?", [iso(when), task_id])
    conn.close()


def runs_where(daemon: Any, sql: str = "1", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db_path(daemon)}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(f"SELECT * FROM runs WHERE {sql} ORDER BY created_at", params))
    finally:
        conn.close()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_task_due_in_two_seconds_starts_on_time(daemon_factory: Any,
                                                 oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        task = api.post("/api/promptly/tasks", json={
            "name": "soon", "prompt": "p", "model": "fake/m", "schedule": "once",
            "scheduledDate": "2099-01-01", "scheduleTime": "00:00"}).json()
    d.stop()
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    set_next_run(d, task["id"], due)
    d.start()
    with d.client() as api:
        assert api.get(f"/api/promptly/tasks/{task['id']}").json()["nextRunAt"] == iso(due)
        runs = wait_for(lambda: api.get(f"/api/promptly/tasks/{task['id']}/runs").json(),
                        15, "the scheduled run")
    assert len(runs) == 1
    run = runs[0]
    assert run["trigger"] == "schedule" and run["scheduledFor"] == iso(due)
    # never early; how late is measured by tests/bench/precision.py, not asserted here
    assert parse(run["startedAt"]) >= due


def test_catch_up_after_downtime_runs_once(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    now = datetime.now(UTC)
    slot = (now - timedelta(hours=2)).replace(second=0, microsecond=0)
    with d.client() as api:
        inside = api.post("/api/promptly/tasks", json={
            "name": "in", "prompt": "p", "model": "fake/m",
            "cronExpression": f"{slot.minute} {slot.hour} * * *"}).json()
        outside = api.post("/api/promptly/tasks", json={
            "name": "out", "prompt": "p", "model": "fake/m", "catchUpWindowHours": 1,
            "cronExpression": f"{slot.minute} {slot.hour} * * *"}).json()
    d.stop()
    # the daemon was down across 3 daily slots (3, 2 and 1 days ago … and 2 h ago)
    for task in (inside, outside):
        set_next_run(d, task["id"], slot - timedelta(days=3))
    d.start()
    with d.client() as api:
        runs = wait_for(lambda: [r for r in api.get("/api/promptly/runs").json()
                                 if r["status"] == "completed"], 15, "the catch-up run")
        next_in = api.get(f"/api/promptly/tasks/{inside['id']}").json()["nextRunAt"]
        next_out = api.get(f"/api/promptly/tasks/{outside['id']}").json()["nextRunAt"]
    assert len(runs) == 1
    assert runs[0]["taskId"] == inside["id"]
    assert runs[0]["trigger"] == "catchup" and runs[0]["scheduledFor"] == iso(slot)
    assert next_in == next_out == iso(slot + timedelta(days=1))
    assert runs_where(d, "task_id = ?", (outside["id"],)) == []
    assert "outside the 1 h catch-up window" in d.log()


def far_daily_cron() -> str:
    """A daily slot twelve hours from now: none of it falls due while a test runs,
    whatever the time of day (only the slots the test moves close do)."""
    far = datetime.now(UTC) + timedelta(hours=12)
    return f"{far.minute} {far.hour} * * *"


def test_kill_9_mid_run_then_restart(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        tasks = [api.post("/api/promptly/tasks", json={
            "name": f"t{i}", "prompt": "p", "model": "fake/m",
            "cronExpression": far_daily_cron()}).json() for i in range(3)]
    d.stop()
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    for t in tasks:
        set_next_run(d, t["id"], due)
    oai.script([slow(60, then=reply("never"))] * 3)
    d.start()
    oai.wait_for_requests(3, timeout=20)  # all three runs are talking to the model
    d.kill()  # SIGKILL: no chance to clean up
    oai.release()
    assert {r["status"] for r in runs_where(d)} == {"running"}
    oai.script([reply("fresh")] * 3)
    d.start()
    rows = runs_where(d)
    assert len(rows) == 3
    assert {r["status"] for r in rows} == {"failed"}
    assert {r["error"] for r in rows} == {"interrupted: daemon stopped"}
    assert "marked 3 run(s) left unfinished" in d.log()
    # no slot ever has two runs
    slots = [(r["task_id"], r["scheduled_for"]) for r in runs_where(d)]
    assert len(slots) == len(set(slots))
    # the next slots still fire: move them close and restart once more
    d.stop()
    due2 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    for t in tasks:
        set_next_run(d, t["id"], due2)
    d.start()
    with d.client() as api:
        done = wait_for(lambda: [r for r in api.get("/api/promptly/runs").json()
                                 if r["status"] == "completed"], 20, "the next slots")
        done = wait_for(lambda: len([r for r in api.get("/api/promptly/runs").json()
                                     if r["status"] == "completed"]) == 3 and
                        api.get("/api/promptly/runs").json(), 20, "all three")
    completed = [r for r in done if r["status"] == "completed"]
    assert {r["scheduledFor"] for r in completed} == {iso(due2)}
    slots = [(r["task_id"], r["scheduled_for"]) for r in runs_where(d)]
    assert len(slots) == 6 and len(set(slots)) == 6


def test_creating_a_task_wakes_the_scheduler(daemon_factory: Any, oai: OpenAIServer) -> None:
    # 'once' with neither date nor time runs as soon as it is created. The scheduler is
    # asleep until a slot twelve hours away (nothing polls), so only the creation itself
    # can wake it in time for the wait below.
    d = daemon_factory(config=config_for(oai)).start()
    oai.script([reply("now")])
    with d.client() as api:
        far = api.post("/api/promptly/tasks", json={"name": "far", "prompt": "p",
                                                    "model": "fake/m",
                                                    "cronExpression": far_daily_cron()})
        assert far.status_code == 201
        task = api.post("/api/promptly/tasks", json={"name": "now", "prompt": "p",
                                                     "model": "fake/m", "schedule": "once"})
        assert task.status_code == 201
        tid = task.json()["id"]
        run = wait_for(lambda: [r for r in api.get(f"/api/promptly/tasks/{tid}/runs").json()
                                if r["status"] == "completed"], 10, "the run")[0]
        assert run["output"] == "now"
        after = api.get(f"/api/promptly/tasks/{tid}").json()
        assert after["status"] == "completed" and after["nextRunAt"] is None
        assert parse(run["startedAt"]) >= parse(task.json()["createdAt"])
        assert run["trigger"] == "schedule"


