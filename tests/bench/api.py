"""API latency over the real socket with 10,000 tasks.

Run: ``.venv/bin/python -m tests.bench.api`` — prints one JSON line with p50/p99
(milliseconds) for POST /tasks, GET /tasks/{id}, PATCH /tasks/{id} and
GET /tasks (the full list of 10,000, expanded). Targets on a 2-core machine:
create p50 ≤ 3 ms, get p50 ≤ 1.5 ms.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time

from tests.daemon_proc import isolated_daemon

N_TASKS = int(os.environ.get("BENCH_TASKS", "10000"))
N_SAMPLES = 2000
N_LIST = 10


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k] * 1000, 3)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": pct(values, 50), "p99_ms": pct(values, 99),
            "mean_ms": round(statistics.fmean(values) * 1000, 3), "n": len(values)}


def main() -> None:
    daemon, cleanup = isolated_daemon('log_level = "WARNING"\n')
    daemon.start()
    rng = random.Random(7)
    try:
        with daemon.client() as api:
            create: list[float] = []
            ids: list[str] = []
            zones = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
            for i in range(N_TASKS):
                body = {"name": f"task {i}", "prompt": "Summarize {{current_date}}",
                        "schedule": rng.choice(["daily", "weekly", "hourly"]),
                        "scheduleTime": f"{rng.randrange(24):02d}:{rng.randrange(60):02d}",
                        "timezone": rng.choice(zones), "model": "ollama/llama3.2"}
                t0 = time.perf_counter()
                r = api.post("/api/promptly/tasks", json=body)
                create.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            get: list[float] = []
            for task_id in rng.sample(ids, min(N_SAMPLES, len(ids))):
                t0 = time.perf_counter()
                r = api.get(f"/api/promptly/tasks/{task_id}")
                get.append(time.perf_counter() - t0)
                assert r.status_code == 200
            patch: list[float] = []
            for task_id in rng.sample(ids, min(N_SAMPLES, len(ids))):
                t0 = time.perf_counter()
                r = api.patch(f"/api/promptly/tasks/{task_id}",
                              json={"scheduleTime": f"{rng.randrange(24):02d}:30"})
                patch.append(time.perf_counter() - t0)
                assert r.status_code == 200
            listing: list[float] = []
            for _ in range(N_LIST):
                t0 = time.perf_counter()
                r = api.get("/api/promptly/tasks")
                listing.append(time.perf_counter() - t0)
                assert len(r.json()) == N_TASKS
    finally:
        cleanup()
    print(json.dumps({
        "bench": "api", "tasks": N_TASKS, "create": summary(create), "get": summary(get),
        "patch": summary(patch), "list_all": summary(listing),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
    }))


if __name__ == "__main__":
    main()
