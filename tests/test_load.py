"""Load: 20 concurrent clients issue 5,000 mixed API requests while 200 runs execute.

No request may fail (no 5xx, no transport error, only the statuses each request can
answer); every run finishes; the latencies are reported (p50/p99 on the terminal
with ``-s`` and as the test's ``p99_ms`` property), never asserted.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from tests.daemon_proc import DaemonProcess, wait_for
from tests.fakes.model_servers import OpenAIServer, dynamic, reply, slow

CLIENTS, REQUESTS, RUNS = 20, 5000, 200


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 2)


def test_twenty_clients_five_thousand_requests_two_hundred_runs(
        daemon_factory: Any, record_property: Any) -> None:
    rng = random.Random(5)
    model = OpenAIServer(default=dynamic(
        lambda _: slow(rng.uniform(0.01, 0.1), then=reply("ok", usage=(2, 2))))).start()
    try:
        d: DaemonProcess = daemon_factory(config=(
            'log_level = "WARNING"\nmax_concurrent_runs = 16\n[providers.fake]\n'
            f'kind = "openai"\nbase_url = "{model.base_url}"\nlocal = true\n')).start()
        with d.client() as api:
            tasks = [api.post("/api/promptly/tasks", json={
                "name": f"t{i}", "prompt": "p", "model": "fake/m"}).json()["id"]
                for i in range(RUNS)]
        to_run = list(tasks)
        lock = threading.Lock()
        latencies: list[float] = []
        statuses: Counter[tuple[str, int]] = Counter()
        errors: list[str] = []
        budget = [REQUESTS]

        def one(api: Any, r: random.Random) -> None:
            with lock:
                run_id = to_run.pop() if to_run and r.random() < 0.1 else None
            tid = r.choice(tasks)
            kind = ("run", "POST", f"/api/promptly/tasks/{run_id}/run", None, {201}) \
                if run_id else r.choice([
                    ("get", "GET", f"/api/promptly/tasks/{tid}", None, {200}),
                    ("list", "GET", "/api/promptly/tasks", None, {200}),
                    ("runs", "GET", "/api/promptly/runs?limit=50", None, {200}),
                    ("task-runs", "GET", f"/api/promptly/tasks/{tid}/runs", None, {200}),
                    ("stats", "GET", "/api/promptly/stats", None, {200}),
                    ("patch", "PATCH", f"/api/promptly/tasks/{tid}",
                     {"scheduleTime": f"{r.randrange(24):02d}:00"}, {200}),
                    ("create", "POST", "/api/promptly/tasks",
                     {"name": "extra", "prompt": "p", "status": "paused"}, {201}),
                    ("bad", "POST", "/api/promptly/tasks", {"name": ""}, {400}),
                    ("missing", "GET", "/api/promptly/runs/00000000-0000-4000-8000-"
                     "000000000000", None, {404}),
                    ("health", "GET", "/api/promptly/health", None, {200}),
                ])
            name, method, path, body, expected = kind
            t0 = time.perf_counter()
            try:
                response = api.request(method, path, json=body)
            except Exception as exc:  # a transport error is a failure of the daemon
                with lock:
                    errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                return
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                statuses[(name, response.status_code)] += 1
                if response.status_code not in expected:
                    errors.append(f"{method} {path}: {response.status_code} {response.text}")

        def client(seed: int) -> None:
            r = random.Random(seed)
            with d.client(timeout=60) as api:
                while True:
                    with lock:
                        if budget[0] == 0:
                            return
                        budget[0] -= 1
                    one(api, r)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - t0
        assert errors == []
        assert len(latencies) == REQUESTS
        with d.client() as api:
            for task_id in to_run:  # the runs the mix did not start
                assert api.post(f"/api/promptly/tasks/{task_id}/run").status_code == 201

            def all_done() -> dict[str, Any] | None:
                stats: dict[str, Any] = api.get("/api/promptly/stats").json()
                done = stats["successfulRuns"] + stats["failedRuns"] >= RUNS
                return stats if done else None

            stats = wait_for(all_done, 120, "every run to finish")
        assert stats["totalRuns"] == RUNS and stats["failedRuns"] == 0, stats
        assert "bug while serving" not in d.log()
    finally:
        model.stop()
    p50, p99 = pct(latencies, 50), pct(latencies, 99)
    record_property("p50_ms", p50)
    record_property("p99_ms", p99)
    print(f"\nload: {REQUESTS} requests from {CLIENTS} clients in {wall:.1f} s, "
          f"p50 {p50} ms, p99 {p99} ms, max {pct(latencies, 100)} ms; {dict(statuses)}")
    assert sum(n for (name, _), n in statuses.items() if name == "run") > 0
