"""Scheduler precision and idle cost, on the real daemon.

Run: ``.venv/bin/python -m tests.bench.precision`` — one JSON line:

- single: 100 tasks due at distinct instants 50 ms apart; lateness = startedAt − due
  (targets p50 ≤ 2 ms, p99 ≤ 10 ms);
- burst: 1,000 tasks due at the same instant, max_concurrent_runs = 2,000
  (targets p50 ≤ 10 ms, p99 ≤ 25 ms);
- idle: the daemon's CPU time over the following 60 s with nothing due (target
  ≤ 60 ms), and the database transactions and scheduler wake-ups in that time
  (target 0).

10,000 further active tasks exist that are not due, and the model is an
instant loopback OpenAI-compatible server. Due instants are planted in the
stopped daemon's database (the API takes minutes, not milliseconds).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta

from tests.bench.common import cpu_seconds, plant_due, summary
from tests.daemon_proc import isolated_daemon
from tests.fakes.model_servers import OpenAIServer, reply
from tests.rows import db_path

N_IDLE_TASKS = int(os.environ.get("BENCH_IDLE_TASKS", "10000"))
N_SINGLE, SINGLE_GAP = 100, 0.050
N_BURST = 1000
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))


def main() -> None:
    server = OpenAIServer(default=reply("ok", usage=(1, 1))).start()
    daemon, cleanup = isolated_daemon(
        'log_level = "WARNING"\ntimezone = "UTC"\nmax_concurrent_runs = 2000\n'
        f'[providers.fake]\nkind = "openai"\nbase_url = "{server.base_url}"\nlocal = true\n')
    db = db_path(daemon)
    try:
        daemon.start()
        ids: list[str] = []
        with daemon.client() as api:
            for i in range(N_IDLE_TASKS + N_SINGLE + N_BURST):
                r = api.post("/api/promptly/tasks", json={
                    "name": f"t{i}", "prompt": "p", "model": "fake/m", "schedule": "once",
                    "scheduledDate": "2099-01-01", "scheduleTime": "09:00"})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
        daemon.stop()
        single_ids = ids[N_IDLE_TASKS:N_IDLE_TASKS + N_SINGLE]
        burst_ids = ids[N_IDLE_TASKS + N_SINGLE:]
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
        due: dict[str, datetime] = {}
        for i, tid in enumerate(single_ids):
            due[tid] = start + timedelta(seconds=i * SINGLE_GAP)
        burst_at = start + timedelta(seconds=N_SINGLE * SINGLE_GAP + 3)
        for tid in burst_ids:
            due[tid] = burst_at
        plant_due(db, due)
        daemon.start()
        with daemon.client(timeout=120) as api:
            deadline = time.monotonic() + 120
            while True:
                stats = api.get("/api/promptly/stats").json()
                if stats["successfulRuns"] + stats["failedRuns"] >= N_SINGLE + N_BURST:
                    break
                assert time.monotonic() < deadline, stats
                time.sleep(0.2)
            runs = api.get("/api/promptly/runs", params={"limit": 10000}).json()
            assert stats["failedRuns"] == 0, [r.get("error") for r in runs][:3]
            lateness = {r["taskId"]: (datetime.fromisoformat(r["startedAt"].replace(
                "Z", "+00:00")) - due[r["taskId"]]).total_seconds() * 1000 for r in runs}
            single = [lateness[t] for t in single_ids]
            if os.environ.get("BENCH_DEBUG"):
                worst = sorted(range(N_SINGLE), key=lambda i: -single[i])[:5]
                print("late single:", [(i, single[i]) for i in worst], file=sys.stderr)
            burst = [lateness[t] for t in burst_ids]
            time.sleep(1.0)  # let the last deliveries and log lines settle
            h0 = api.get("/api/promptly/health").json()["counters"]
            cpu0 = cpu_seconds(daemon.pid)
            time.sleep(IDLE_SECONDS)
            cpu1 = cpu_seconds(daemon.pid)
            h1 = api.get("/api/promptly/health").json()["counters"]
        idle_cpu_ms = (cpu1 - cpu0) * 1000
        # the two /health calls themselves are not database work
        idle = {"seconds": IDLE_SECONDS, "cpu_ms": round(idle_cpu_ms, 1),
                "cpu_ms_per_min": round(idle_cpu_ms * 60 / IDLE_SECONDS, 1),
                "db_transactions": (h1["dbReads"] - h0["dbReads"])
                + (h1["dbWrites"] - h0["dbWrites"]),
                "scheduler_wakeups": h1["schedulerWakeups"] - h0["schedulerWakeups"]}
    finally:
        cleanup()
        server.stop()
    print(json.dumps({
        "bench": "precision", "idle_tasks": N_IDLE_TASKS, "single": summary(single),
        "burst": summary(burst), "idle": idle,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
    }))


if __name__ == "__main__":
    main()
