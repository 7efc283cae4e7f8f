"""The daemon's idle cost with the dashboard's listener on and off (one JSON line).

Starts the real daemon twice (``[web] listen`` unset, then on a loopback port), waits
until start-up has settled, and measures its CPU time over ``BENCH_IDLE_SECONDS``
(default 60) with nobody connected. Run: ``.venv/bin/python -m tests.bench.dashboard_idle``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from tests.bench.common import cpu_seconds
from tests.daemon_proc import isolated_daemon

IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
SETTLE_SECONDS = 5.0  # the SDK warm-up thread and the first skills scan


def idle_cpu_ms(config: str) -> float:
    daemon, cleanup = isolated_daemon(config)
    try:
        daemon.start()
        time.sleep(SETTLE_SECONDS)
        before = cpu_seconds(daemon.pid)
        time.sleep(IDLE_SECONDS)
        return round((cpu_seconds(daemon.pid) - before) * 1000, 1)
    finally:
        cleanup()


def main() -> None:
    base = 'log_level = "WARNING"\ntimezone = "UTC"\n'
    off = idle_cpu_ms(base)
    on = idle_cpu_ms(base + '[web]\nlisten = "127.0.0.1:0"\n')
    print(json.dumps({"idle_seconds": IDLE_SECONDS, "cpu_ms_web_off": off, "cpu_ms_web_on": on,
                      "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}))


if __name__ == "__main__":
    main()
