"""How long ``promptly --help`` takes from a cold process (the CLI must stay instant).

Run: ``.venv/bin/python -m tests.bench.cli`` — one JSON line with the wall time of
``promptly --help``, ``promptly tasks --help`` and ``promptly tasks create --help``
over 20 runs each (target ≤ 100 ms), and of ``promptly tasks list --json`` against a
real daemon holding 100 tasks (made through the API; target ≤ 250 ms). The unit test
(tests/test_cli.py) checks the cause instead: nothing heavy is imported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

from tests.daemon_proc import isolated_daemon

RUNS = 20
COMMANDS = (["--help"], ["tasks", "--help"], ["tasks", "create", "--help"])


def wall_ms(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "promptlyd", *argv], check=True,
                   capture_output=True, timeout=60, env=env)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    results = {}
    for argv in COMMANDS:
        times = sorted(wall_ms(argv) for _ in range(RUNS))
        results["promptly " + " ".join(argv)] = {
            "p50_ms": round(statistics.median(times), 1),
            "max_ms": round(times[-1], 1)}
    daemon, cleanup = isolated_daemon('log_level = "WARNING"\n')
    try:
        daemon.start()
        with daemon.client() as api:
            for i in range(100):
                r = api.post("/api/promptly/tasks", json={
                    "name": f"task {i}", "prompt": "p", "model": "ollama/llama3.2"})
                assert r.status_code == 201, r.text
        times = sorted(wall_ms(["tasks", "list", "--json"], daemon.env) for _ in range(RUNS))
        results["promptly tasks list --json (100 tasks)"] = {
            "p50_ms": round(statistics.median(times), 1), "max_ms": round(times[-1], 1)}
    finally:
        cleanup()
    print(json.dumps({
        "bench": "cli", "runs": RUNS, "results": results,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(), "load_1min": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }))


if __name__ == "__main__":
    main()
