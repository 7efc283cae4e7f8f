"""The daemon with 100,000 tasks: start-up, memory, and the API while they exist.

Run: ``.venv/bin/python -m tests.bench.scale`` — one JSON line. The tasks are written
straight into a fresh database through the store's own methods before the daemon
starts (``tests.bench.common.seed_tasks``: one transaction, seconds instead of the
API's minutes); all are active daily tasks, none due during the run. Then:

- start: from spawning ``promptlyd`` to ``/health`` answering 200 (the socket is
  bound after the schedule of all 100,000 is loaded) — target ≤ 2 s;
- RSS idle: VmRSS 3 s after ready — target ≤ 150 MB;
- ``GET /tasks/{id}`` (2,000 random ids) p50 — target ≤ 1 ms;
- ``POST /tasks`` (2,000 creates) p50 ≤ 2 ms, p99 ≤ 10 ms;
- ``GET /tasks?limit=10000`` (10 times) — target ≤ 100 ms.

All over the real socket with one keep-alive httpx client.
"""

from __future__ import annotations

import json
import os
import random
import time

from tests.bench.common import machine, rss_mb, seed_tasks, summary, timed_ms
from tests.daemon_proc import isolated_daemon
from tests.rows import db_path

N_TASKS = int(os.environ.get("BENCH_TASKS", "100000"))
N_SAMPLES = 2000
N_LIST = 10


def main() -> None:
    daemon, cleanup = isolated_daemon('log_level = "WARNING"\ntimezone = "UTC"\n')
    rng = random.Random(7)
    try:
        t0 = time.perf_counter()
        ids = seed_tasks(db_path(daemon), N_TASKS, model="ollama/llama3.2")
        seed_s = time.perf_counter() - t0
        starts: list[float] = []
        for attempt in range(3):  # the first start also pays for a cold page cache
            t0 = time.perf_counter()
            daemon.start()
            timed_ms(starts, t0)
            if attempt < 2:
                daemon.stop()
        time.sleep(3)
        rss = rss_mb(daemon.pid)
        with daemon.client() as api:
            get: list[float] = []
            for task_id in rng.sample(ids, N_SAMPLES):
                t0 = time.perf_counter()
                r = api.get(f"/api/promptly/tasks/{task_id}")
                timed_ms(get, t0)
                assert r.status_code == 200, r.text
            create: list[float] = []
            for i in range(N_SAMPLES):
                body = {"name": f"new {i}", "prompt": "Summarize {{current_date}}",
                        "schedule": "daily", "scheduleTime": f"{rng.randrange(24):02d}:15",
                        "model": "ollama/llama3.2"}
                t0 = time.perf_counter()
                r = api.post("/api/promptly/tasks", json=body)
                timed_ms(create, t0)
                assert r.status_code == 201, r.text
            listing: list[float] = []
            for _ in range(N_LIST):
                t0 = time.perf_counter()
                r = api.get("/api/promptly/tasks", params={"limit": 10000})
                timed_ms(listing, t0)
                assert r.status_code == 200 and len(r.json()) == 10000
            rss_after = rss_mb(daemon.pid)
    finally:
        cleanup()
    print(json.dumps({
        "bench": "scale", "tasks": N_TASKS, "seed_s": round(seed_s, 2),
        "start_ms": [round(s) for s in starts], "rss_idle_mb": rss,
        "rss_after_mb": rss_after, "get": summary(get), "create": summary(create),
        "list_10000": summary(listing, 1), "machine": machine(),
    }))


if __name__ == "__main__":
    main()
