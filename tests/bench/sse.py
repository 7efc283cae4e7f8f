"""1,000 idle SSE clients on the daemon's socket.

Run: ``.venv/bin/python -m tests.bench.sse`` — one JSON line. Opens ``BENCH_CLIENTS``
(default 1,000) raw connections to ``GET /api/promptly/events`` over the Unix socket
(heartbeat 15 s, the default), reads each one's response head, then leaves them
idle for ``BENCH_IDLE_SECONDS`` (default 60). Figures: the daemon's RSS and open
fds before and with the clients, its CPU over the idle minute (heartbeats only),
how long one ``task.created`` (a task made through the API) takes to reach all of
them, and that ``GET /health`` still answers while they are connected.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import time

from tests.bench.common import cpu_seconds, machine, rss_mb
from tests.daemon_proc import isolated_daemon

N_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "60"))
REQUEST = (b"GET /api/promptly/events HTTP/1.1\r\nHost: localhost\r\n"
           b"Accept: text/event-stream\r\n\r\n")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    daemon, cleanup = isolated_daemon('log_level = "WARNING"\n')
    clients: list[socket.socket] = []
    try:
        daemon.start()
        time.sleep(3)
        rss0, fds0 = rss_mb(daemon.pid), fds(daemon.pid)
        t0 = time.perf_counter()
        sel = selectors.DefaultSelector()
        for _ in range(N_CLIENTS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(daemon.socket_path))
            s.sendall(REQUEST)
            clients.append(s)
        heads = 0
        for s in clients:
            s.settimeout(30)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                assert chunk, "closed before the head"
                got += chunk
            assert got.startswith(b"HTTP/1.1 200"), got[:100]
            heads += 1
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        connect_s = time.perf_counter() - t0
        time.sleep(2)
        for key, _ in sel.select(0):  # drain what arrived so far (retry hints, hellos)
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(65536)  # type: ignore[union-attr]
        rss1, fds1 = rss_mb(daemon.pid), fds(daemon.pid)
        cpu0 = cpu_seconds(daemon.pid)
        time.sleep(IDLE_SECONDS)
        cpu1 = cpu_seconds(daemon.pid)
        for key, _ in sel.select(0):
            try:
                while key.fileobj.recv(65536):  # type: ignore[union-attr]
                    pass
            except BlockingIOError:
                pass
        with daemon.client() as api:
            t0 = time.perf_counter()
            health = api.get("/api/promptly/health").status_code
            health_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            r = api.post("/api/promptly/tasks", json={"name": "fan-out", "prompt": "p",
                                                      "model": "ollama/llama3.2"})
            assert r.status_code == 201, r.text
        waiting = {s.fileno(): s for s in clients}
        seen: dict[int, bytes] = {}
        deadline = time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                fileobj = key.fileobj
                assert isinstance(fileobj, socket.socket)
                s = fileobj
                try:
                    data = seen.get(s.fileno(), b"") + s.recv(65536)
                except BlockingIOError:
                    continue
                seen[s.fileno()] = data
                if b"task.created" in data:
                    waiting.pop(s.fileno(), None)
        fan_out_ms = (time.perf_counter() - t0) * 1000
        result = {
            "clients": N_CLIENTS, "heads": heads, "connect_all_s": round(connect_s, 2),
            "rss_mb": {"before": rss0, "with_clients": rss1}, "fds": {"before": fds0,
                                                                     "with_clients": fds1},
            "idle_seconds": IDLE_SECONDS, "idle_cpu_ms": round((cpu1 - cpu0) * 1000, 1),
            "health_status": health, "health_ms": round(health_ms, 1),
            "task_created_reached": N_CLIENTS - len(waiting),
            "fan_out_ms": round(fan_out_ms, 1),
        }
    finally:
        for s in clients:
            s.close()
        cleanup()
    print(json.dumps({"bench": "sse", **result, "machine": machine()}))


if __name__ == "__main__":
    main()
