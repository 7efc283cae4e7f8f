"""systemd notifications: READY once the API answers, STATUS kept current, the watchdog
from the scheduler's own wake loop, STOPPING on SIGTERM — over a real datagram socket."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from promptlyd.clock import FakeClock
from promptlyd.daemon.notify import Watchdog, status_line, watchdog_interval
from tests.daemon_proc import wait_for

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def test_watchdog_interval_is_half_of_what_systemd_asks() -> None:
    assert watchdog_interval({}, 1) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, 1) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 1) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, 1) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 1) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, 1) is None


def test_watchdog_pings_when_due_and_says_when_to_wake() -> None:
    clock = FakeClock(T0)
    sent: list[str] = []
    dog = Watchdog(10.0, sent.append, clock)
    assert dog.next_wake() == T0  # the first ping is due at once
    dog.woke()
    assert sent == ["WATCHDOG=1"] and dog.next_wake() == T0 + timedelta(seconds=10)
    clock.advance(4)
    dog.woke()  # woken for a due task: no ping yet
    assert sent == ["WATCHDOG=1"] and dog.next_wake() == T0 + timedelta(seconds=10)
    clock.advance(6)
    dog.woke()
    assert sent == ["WATCHDOG=1"] * 2


def test_status_line() -> None:
    assert status_line(scheduled=0, next_due=None, running=0, pending=0, now=T0) == \
        "0 tasks scheduled; 0 runs running, 0 pending"
    assert status_line(scheduled=1, next_due=T0 + timedelta(minutes=90), running=1,
                       pending=2, now=T0) == \
        "1 task scheduled, next 2026-12-01 07:30 UTC (in 90 min); 1 run running, 2 pending"
    later = status_line(scheduled=2, next_due=T0 + timedelta(days=3), running=0, pending=0,
                        now=T0)
    assert "(in 3 days)" in later


class Listener:
    """The systemd end: a datagram socket, every message with when it came."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[str, float]] = []
        self.ready_answered: bool | None = None  # did the API answer when READY=1 came?
        self.socket_path: Path | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            for line in data.splitlines():
                if line == "READY=1" and self.socket_path is not None:
                    self.ready_answered = self._answers()
                self.messages.append((line, time.monotonic()))

    def _answers(self) -> bool:
        assert self.socket_path is not None
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket_path)),
                              base_url="http://localhost", timeout=5) as c:
                return c.get("/api/promptly/health").status_code == 200
        except httpx.TransportError:
            return False

    def lines(self, prefix: str) -> list[str]:
        return [m for m, _ in self.messages if m.startswith(prefix)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_ready_status_watchdog_stopping(daemon_factory: Any) -> None:
    listener = Listener(Path(os.environ["XDG_RUNTIME_DIR"]) / "notify.sock")
    try:
        d = daemon_factory(env={"NOTIFY_SOCKET": str(listener.path),
                                "WATCHDOG_USEC": "1000000"})  # a ping every 0.5 s
        listener.socket_path = d.socket_path
        d.start()
        wait_for(lambda: listener.lines("READY=1"), 20, "READY=1")
        assert listener.ready_answered is True  # the socket answered as READY=1 came
        wait_for(lambda: listener.lines("STATUS="), 10, "STATUS=")
        assert listener.lines("STATUS=")[0] == "STATUS=0 tasks scheduled; 0 runs running, " \
                                               "0 pending"
        with d.client() as api:
            api.post("/api/promptly/tasks", json={
                "name": "Later", "prompt": "p", "schedule": "daily", "scheduleTime": "07:30",
                "timezone": "UTC", "model": "ollama/x"})
        wait_for(lambda: any(s.startswith("STATUS=1 task scheduled, next ")
                             for s in listener.lines("STATUS=")), 10, "STATUS after a create")
        wait_for(lambda: len(listener.lines("WATCHDOG=1")) >= 3, 20, "three watchdog pings")
        pings = [t for m, t in listener.messages if m == "WATCHDOG=1"]
        assert all(b - a < 5.0 for a, b in pairwise(pings))  # well in time
        d.signal(signal.SIGTERM)
        wait_for(lambda: listener.lines("STOPPING=1"), 20, "STOPPING=1")
        assert d.stop() == 0
    finally:
        listener.close()


def test_no_watchdog_asked_no_wakeups(daemon_factory: Any) -> None:
    listener = Listener(Path(os.environ["XDG_RUNTIME_DIR"]) / "notify.sock")
    try:
        d = daemon_factory(env={"NOTIFY_SOCKET": str(listener.path)}).start()
        wait_for(lambda: listener.lines("STATUS="), 10, "STATUS=")
        with d.client() as api:
            before = api.get("/api/promptly/health").json()["counters"]["schedulerWakeups"]
            time.sleep(1.5)  # a window to measure in: nothing may wake the loop
            after = api.get("/api/promptly/health").json()["counters"]["schedulerWakeups"]
        assert before == after == 0
        assert listener.lines("WATCHDOG=1") == []
    finally:
        listener.close()
