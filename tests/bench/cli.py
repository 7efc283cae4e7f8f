"""How long ``promptly --help`` takes from a cold process (the CLI must stay instant).

Run: ``.venv/bin/python -m tests.bench.cli`` — one JSON line with the wall time of
``promptly --help``, ``promptly tasks --help`` and ``promptly tasks create --help``
over 20 runs each (target p50 ≤ 300 ms on an idle machine). The unit test
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

RUNS = 20
COMMANDS = (["--help"], ["tasks", "--help"], ["tasks", "create", "--help"])


def wall_ms(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "promptlyd", *argv], check=True,
                   capture_output=True, timeout=60)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    results = {}
    for argv in COMMANDS:
        times = sorted(wall_ms(argv) for _ in range(RUNS))
        results["promptly " + " ".join(argv)] = {
            "p50_ms": round(statistics.median(times), 1),
            "max_ms": round(times[-1], 1)}
    print(json.dumps({
        "bench": "cli", "runs": RUNS, "results": results,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
    }))


if __name__ == "__main__":
    main()
