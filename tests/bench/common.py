"""What the benchmarks share: percentiles, the machine, a process's CPU and RSS, and
``seed_tasks`` — many tasks written straight into a fresh (stopped) daemon's database
through the store's own methods (``open_store`` + ``Store.insert``, one transaction),
the way ``POST /tasks`` would make them. The API takes minutes for 100,000; this
takes seconds.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptlyd.shapes import tasks as shape
from promptlyd.store.db import open_store
from promptlyd.timeutil import iso


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def summary(ms: list[float], digits: int = 3) -> dict[str, float]:
    """p50/p99/max/mean of values in milliseconds."""
    return {"p50_ms": round(pct(ms, 50), digits), "p99_ms": round(pct(ms, 99), digits),
            "max_ms": round(max(ms), digits), "mean_ms": round(statistics.fmean(ms), digits),
            "n": len(ms)}


def timed_ms(values: list[float], started: float) -> None:
    values.append((time.perf_counter() - started) * 1000)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "platform": platform.platform(), "load_1min": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_for_finished_runs(api: Any, count: int, timeout: float, poll: float) -> None:
    """Until ``/stats`` counts ``count`` finished runs (completed or failed); fail after
    ``timeout`` seconds, showing the last counts."""
    deadline = time.monotonic() + timeout
    while True:
        stats = api.get("/api/promptly/stats").json()
        if stats["successfulRuns"] + stats["failedRuns"] >= count:
            return
        assert time.monotonic() < deadline, stats
        time.sleep(poll)


def seed_tasks(db: Path, count: int, *, next_run_at: datetime | None = None,
               model: str = "fake/m", destinations: list[dict[str, str]] | None = None,
               prefix: str = "task") -> list[str]:
    """``count`` active daily tasks in one transaction; returns their ids. With
    ``next_run_at`` they are all due then (a planted instant, as a restart after a
    schedule change would find it), else at their schedule's next 09:00."""
    store = open_store(db)
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = iso(now)
    template: dict[str, Any] = {
        "model": model, "schedule": "daily", "schedule_time": "09:00", "timezone": "UTC",
        "status": "active", "anchor_at": stamp, "created_at": stamp, "updated_at": stamp,
        "last_run_at": None, "prompt": "Summarize {{current_date}}",
        "destinations": destinations,
    }
    natural = shape.compute_next_run(template, now)
    due = natural if next_run_at is None else iso(next_run_at)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    store.conn.execute("BEGIN IMMEDIATE")
    for i, task_id in enumerate(ids):
        store.insert("tasks", {**template, "id": task_id, "name": f"{prefix} {i}",
                               "next_run_at": due})
    store.conn.execute("COMMIT")
    store.conn.close()
    return ids


def plant_due(db: Path, due: dict[str, datetime]) -> None:
    """Each task's next instant set straight in the database, before the daemon starts
    (task id → when it falls due)."""
    store = open_store(db)
    store.conn.execute("BEGIN IMMEDIATE")
    for task_id, when in due.items():
        store.update("tasks", task_id, {"next_run_at": iso(when)})
    store.conn.execute("COMMIT")
    store.conn.close()
