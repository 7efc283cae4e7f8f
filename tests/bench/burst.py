"""Burst at scale: 10,000 tasks due at the same instant while 90,000 more are not due,
side by side with APScheduler 3's ``AsyncIOScheduler`` given the same 10,000 jobs.

Run: ``.venv/bin/python -m tests.bench.burst`` — one JSON line. The 100,000 tasks are
written straight into a fresh database through the store's own methods before the
daemon starts (``tests.bench.common.seed_tasks``); the 10,000 have their
``nextRunAt`` planted at one instant a few seconds after start-up (as a restart
would find them), the 90,000 are due tomorrow. ``max_concurrent_runs`` = 10,000, so
every due run can be claimed at the one wake-up. The model is the instant loopback
OpenAI-wire server.

Figures (lateness = start − due):

- ours, ``startedAt`` (recorded in the claim's transaction) — target p99 ≤ 50 ms;
- ours, the claim's commit: the first model request reaching the model server
  (nothing can start before the claim commits), and the p50/p99 of all 10,000
  model requests arriving (the SDK's connection pool and the fake's threads
  included: that is run execution, not scheduling);
- every due task claimed (10,000 runs) and none twice (no task with two runs);
- APScheduler 3.x ``AsyncIOScheduler``, 10,000 ``DateTrigger`` jobs at one instant
  (``misfire_grace_time=None`` so none is dropped), lateness = the job coroutine
  starting; printed as the ratio of its p50/p99 to ours.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import machine, seed_tasks, summary, wait_for_finished_runs
from tests.daemon_proc import isolated_daemon
from tests.fakes.model_servers import OpenAIServer, Recorded, dynamic, reply
from tests.rows import db_path

N_DUE = int(os.environ.get("BENCH_DUE", "10000"))
N_IDLE = int(os.environ.get("BENCH_IDLE_TASKS", "90000"))
LEAD_S = 8.0  # due this long after seeding: the daemon is up and asleep by then


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def ours() -> dict[str, Any]:
    arrivals: list[float] = []
    lock = threading.Lock()

    def answer(_: Recorded) -> Any:
        with lock:
            arrivals.append(time.time())
        return reply("ok", usage=(1, 1))

    server = OpenAIServer(default=dynamic(answer)).start()
    daemon, cleanup = isolated_daemon(
        'log_level = "WARNING"\ntimezone = "UTC"\n'
        f"max_concurrent_runs = {N_DUE}\nrun_timeout_seconds = 600\n"
        f'[providers.fake]\nkind = "openai"\nbase_url = "{server.base_url}"\nlocal = true\n')
    db = db_path(daemon)
    try:
        seed_tasks(db, N_IDLE, prefix="idle")
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD_S + 1)
        seed_tasks(db, N_DUE, next_run_at=due, prefix="due")
        daemon.start()
        assert datetime.now(UTC) < due - timedelta(seconds=1), "started too late; raise LEAD_S"
        with daemon.client(timeout=60) as api:
            wait_for_finished_runs(api, N_DUE, timeout=600, poll=0.5)
        daemon.stop()
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        started = [parse(s) for (s,) in conn.execute("SELECT started_at FROM runs")]
        twice = conn.execute("SELECT COUNT(*) FROM (SELECT task_id FROM runs GROUP BY "
                             "task_id, scheduled_for HAVING COUNT(*) > 1)").fetchone()[0]
        tasks_run = conn.execute("SELECT COUNT(DISTINCT task_id) FROM runs").fetchone()[0]
        failed = conn.execute("SELECT COUNT(*) FROM runs WHERE status != 'completed'"
                              ).fetchone()[0]
        conn.close()
    finally:
        cleanup()
        server.stop()
    due_s = due.timestamp()
    model = [(t - due_s) * 1000 for t in arrivals]
    return {
        "runs": len(started), "tasks_run": tasks_run, "run_twice": twice, "failed": failed,
        "started_at": summary([(s - due).total_seconds() * 1000 for s in started]),
        "claim_committed_ms": round(min(model), 1),
        "model_request": summary(model, 1),
    }


def apscheduler() -> dict[str, Any]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.date import DateTrigger

    async def go() -> list[float]:
        late: list[float] = []
        done = asyncio.Event()
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)

        async def job() -> None:
            late.append((time.time() - due.timestamp()) * 1000)
            if len(late) == N_DUE:
                done.set()

        scheduler = AsyncIOScheduler(timezone=UTC,
                                     job_defaults={"misfire_grace_time": None})
        for i in range(N_DUE):
            scheduler.add_job(job, DateTrigger(run_date=due, timezone=UTC), id=str(i))
        scheduler.start()
        await asyncio.wait_for(done.wait(), 120)
        scheduler.shutdown(wait=False)
        return late

    return {"job_started": summary(asyncio.run(go()), 1)}


def main() -> None:
    mine = ours()
    try:
        theirs: dict[str, Any] | None = apscheduler()
    except ModuleNotFoundError:  # a dev-only comparison: the `bench` extra installs it
        theirs = None
    ratio: dict[str, Any] | str = (
        "APScheduler 3 is not installed: pip install -e '.[bench]'" if theirs is None
        else {k: round(theirs["job_started"][k] / max(mine["started_at"][k], 1.0), 1)
              for k in ("p50_ms", "p99_ms")})
    print(json.dumps({"bench": "burst", "due": N_DUE, "not_due": N_IDLE, "promptlyd": mine,
                      "apscheduler3": theirs,
                      "apscheduler_over_ours": ratio,
                      "note": "ratio: APScheduler's lateness / ours (ours floored at 1 ms, "
                              "the API's resolution)",
                      "machine": machine()}))


if __name__ == "__main__":
    main()
