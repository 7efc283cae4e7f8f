"""Idle cost with a realistic library: 10,000 active tasks, 50 skill files, 5 sources,
nothing due for an hour.

Run: ``.venv/bin/python -m tests.bench.idle`` — one JSON line: the daemon's CPU time
over ``BENCH_IDLE_SECONDS`` (default 60; target ≤ 30 ms), and the database
transactions and scheduler wake-ups in that time (target 0 each), read from
``/health`` before and after (those two requests, each on a connection closed at
once, are the only traffic), and which threads used the CPU.

The tasks are written straight into a fresh database through the store's own
methods before the daemon starts (``tests.bench.common.seed_tasks``), due two
hours on; the 50 skill files are written into the skills folder before start (the
daemon scans, then watches it); the 5 sources (local folders) are made through the
API. The dashboard's web listener is on (``[web] listen`` on a loopback port, nobody
connected); ``BENCH_WEB=0`` measures without it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bench.common import cpu_seconds, machine, seed_tasks
from tests.daemon_proc import isolated_daemon
from tests.rows import db_path

N_TASKS = int(os.environ.get("BENCH_IDLE_TASKS", "10000"))
N_SKILLS, N_SOURCES = 50, 5
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))


def main() -> None:
    skills = Path(tempfile.mkdtemp(prefix="promptly-skills-"))
    for i in range(N_SKILLS):
        (skills / f"skill-{i:02d}.md").write_text(
            f"---\nname: Skill {i}\ndescription: Benchmark skill number {i}.\n---\n\n"
            "Answer in three short bullet points.\n")
    web = os.environ.get("BENCH_WEB", "1") != "0"
    daemon, cleanup = isolated_daemon(
        f'log_level = "WARNING"\ntimezone = "UTC"\nskills_dir = "{skills}"\n'
        + ('[web]\nlisten = "127.0.0.1:0"\n' if web else ""))
    try:
        seed_tasks(db_path(daemon), N_TASKS,
                   next_run_at=datetime.now(UTC) + timedelta(hours=2))
        daemon.start()
        with daemon.client() as api:
            for i in range(N_SOURCES):
                r = api.post("/api/promptly/sources", json={
                    "name": f"notes {i}", "type": "local", "config": {"paths": [str(skills)]}})
                assert r.status_code == 201, r.text
            loaded = len(api.get("/api/promptly/skills").json())
        time.sleep(5.0)  # start-up work (SDK warm-up, gc.freeze) settles
        # each reading on a connection of its own, closed before the quiet minute: a
        # keep-alive connection left open is closed by the daemon after 30 s, work
        # that would count against "idle"
        with daemon.client() as api:
            h0 = api.get("/api/promptly/health").json()["counters"]
        cpu0, threads0 = cpu_seconds(daemon.pid), thread_ticks(daemon.pid)
        time.sleep(IDLE_SECONDS)
        cpu1, threads1 = cpu_seconds(daemon.pid), thread_ticks(daemon.pid)
        with daemon.client() as api:
            h1 = api.get("/api/promptly/health").json()["counters"]
    finally:
        cleanup()
    cpu_ms = (cpu1 - cpu0) * 1000
    print(json.dumps({
        "bench": "idle", "tasks": N_TASKS, "skills_loaded": loaded, "sources": N_SOURCES,
        "seconds": IDLE_SECONDS, "cpu_ms": round(cpu_ms, 1),
        "db_transactions": (h1["dbReads"] - h0["dbReads"]) + (h1["dbWrites"] - h0["dbWrites"]),
        "scheduler_wakeups": h1["schedulerWakeups"] - h0["schedulerWakeups"],
        "web_listener": web,
        # where it went: CPU ms per thread that used any ("main" is the event loop)
        "threads_ms": {name: (ticks - threads0.get(name, 0)) * 10
                       for name, ticks in threads1.items() if ticks > threads0.get(name, 0)},
        "machine": machine()}))


def thread_ticks(pid: int) -> dict[str, int]:
    """utime + stime (10 ms ticks) per thread of ``pid``, by OS name and thread id."""
    out: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
        name = "main" if int(tid) == pid else f"{comm}:{int(tid) - pid}"
        out[name] = int(stat[11]) + int(stat[12])
    return out


if __name__ == "__main__":
    main()
