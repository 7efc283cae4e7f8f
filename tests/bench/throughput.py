"""Throughput end to end: runs per second with ``max_concurrent_runs = 64``, each run
calling an instant loopback model, recording its result and delivering one webhook
to a loopback receiver.

Run: ``.venv/bin/python -m tests.bench.throughput`` — one JSON line. Offered load:
``BENCH_RATE`` runs a second (default 500) for ``BENCH_SECONDS`` (default 30): as
many tasks, written straight into a fresh database through the store's own methods
before the daemon starts (``tests.bench.common.seed_tasks``), with due instants
planted every 20 ms (10 tasks each at 500/s). Both peers are the tests' fakes on
127.0.0.1 in this process (``OpenAIServer``, ``Receiver``), keeping connections
alive as real APIs do.

Figures: runs/s achieved = runs / (last run completed − first due); the lateness
of the start of the runs (a daemon that keeps up starts every run on time; one that
does not builds a backlog); every run completed (none lost) and one delivery per
run received (by ``webhook-id``) — target ≥ 500 runs/s sustained for 30 s.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import (
    cpu_seconds,
    machine,
    plant_due,
    seed_tasks,
    summary,
    wait_for_finished_runs,
)
from tests.daemon_proc import isolated_daemon
from tests.fakes.model_servers import OpenAIServer, reply
from tests.fakes.receivers import Receiver
from tests.rows import db_path

RATE = int(os.environ.get("BENCH_RATE", "500"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
STEP_S = 0.020
LEAD_S = 6.0


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def main() -> None:
    n = int(RATE * SECONDS)
    per_step = max(1, round(RATE * STEP_S))
    server = OpenAIServer(default=reply("ok", usage=(1, 1)), keep_alive=True).start()
    hook = Receiver(keep_alive=True).start()
    daemon, cleanup = isolated_daemon(
        'log_level = "WARNING"\ntimezone = "UTC"\nmax_concurrent_runs = 64\n'
        "run_timeout_seconds = 600\n"
        f'[providers.fake]\nkind = "openai"\nbase_url = "{server.base_url}"\nlocal = true\n')
    db = db_path(daemon)
    result: dict[str, Any] = {}
    try:
        ids = seed_tasks(db, n, destinations=[{"type": "webhook", "value": hook.url + "/h"}])
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD_S)
        due = {tid: first + timedelta(seconds=(i // per_step) * STEP_S)
               for i, tid in enumerate(ids)}
        plant_due(db, due)
        daemon.start()
        assert datetime.now(UTC) < first, "started too late; raise LEAD_S"
        with daemon.client(timeout=60) as api:
            wait_for_finished_runs(api, n, timeout=SECONDS * 20 + 60, poll=1.0)
        delivered_by = time.monotonic() + 120
        while (len({r.headers.get("webhook-id") for r in hook.requests}) < n
               and time.monotonic() < delivered_by):
            time.sleep(0.5)
        time.sleep(2.0)  # a duplicate delivery would show up here
        cpu_daemon = cpu_seconds(daemon.pid)
        daemon.stop()
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = conn.execute("SELECT task_id, status, started_at, completed_at, "
                            "delivery_status FROM runs").fetchall()
        conn.close()
        ids_sent = Counter(r.headers.get("webhook-id") for r in hook.requests)
        completed = [r for r in rows if r[1] == "completed"]
        last_done = max(parse(r[3]) for r in completed)
        elapsed = (last_done - first).total_seconds()
        per_second = Counter(int((parse(r[3]) - first).total_seconds()) for r in completed)
        result = {
            "offered_per_s": RATE, "seconds": SECONDS, "runs": len(rows),
            "completed": len(completed), "lost": n - len(completed),
            "runs_per_s": round(len(completed) / elapsed, 1),
            "elapsed_s": round(elapsed, 2),
            "completed_per_second": [per_second.get(s, 0) for s in range(int(elapsed) + 1)],
            # a run's own time, claimed to recorded: 64 in flight / this = the rate
            "run_time": summary([(parse(r[3]) - parse(r[2])).total_seconds() * 1000
                                 for r in completed], 1),
            "start_lateness": summary([(parse(r[2]) - due[r[0]]).total_seconds() * 1000
                                       for r in rows if r[2]], 1),
            "deliveries_received": len(hook.requests),
            "deliveries_distinct": len(ids_sent),
            "deliveries_duplicated": sum(1 for c in ids_sent.values() if c > 1),
            "delivered_status": sum(1 for r in rows if r[4] == "delivered"),
            "daemon_cpu_s": round(cpu_daemon, 1),
        }
    finally:
        cleanup()
        server.stop()
        hook.stop()
    print(json.dumps({"bench": "throughput", **result, "machine": machine()}))


if __name__ == "__main__":
    main()
