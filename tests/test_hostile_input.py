"""Hostile input at the socket: oversized bodies, deep nesting, bad UTF-8, clients that
send nothing or half a request, huge headers — the daemon answers in the error shape
(or cuts the connection off) and keeps serving, with its file descriptors stable.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon_proc import DaemonProcess, wait_for

TIMEOUT = 1  # request_timeout_seconds for these daemons: short, so the tests are too
LIMIT = 5_000_000


@pytest.fixture
def hostile(daemon_factory: Any) -> DaemonProcess:
    d: DaemonProcess = daemon_factory(config=f"request_timeout_seconds = {TIMEOUT}\n").start()
    return d


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def settled_rss_mb(pid: int, timeout: float = 30.0) -> float:
    """RSS once start-up's background work (the SDK imports) has finished: two samples
    half a second apart within 1 MB of each other."""
    last = rss_mb(pid)

    def steady() -> float | None:
        nonlocal last
        time.sleep(0.5)
        now = rss_mb(pid)
        done = abs(now - last) < 1.0
        last = now
        return now if done else None

    return wait_for(steady, timeout, "the daemon's memory to settle")


def raw_connect(d: DaemonProcess) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(d.socket_path))
    return s


def read_all(s: socket.socket) -> bytes:
    """Everything the daemon sends until it closes the connection."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def read_response(s: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (head and Content-Length body), however it arrives."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed before the head was complete: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "closed before the body was complete"
        body += chunk
    assert len(body) == length, "more than one response"
    return head + b"\r\n\r\n" + body


def assert_error_shape(body: dict[str, Any], kind: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == kind, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(
        hostile: DaemonProcess) -> None:
    with raw_connect(hostile) as s:
        # 100 MB declared, not one byte of it sent: the answer comes anyway
        s.sendall(b"POST /api/promptly/tasks HTTP/1.1\r\nhost: x\r\n"
                  b"content-type: application/json\r\ncontent-length: 100000000\r\n\r\n")
        head = b""
        while b"}}" not in head:
            chunk = s.recv(65536)
            assert chunk, head
            head += chunk
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b'"type":"payload_too_large"' in head and b"limit is 5000000 bytes" in head


def test_a_chunked_body_over_the_limit_is_cut_off_while_it_streams(
        hostile: DaemonProcess) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        block = b"[" + b"1," * 32_000 + b"1]"
        for _ in range(4 * LIMIT // len(block)):  # 20 MB if it were all read
            sent += len(block)
            yield block

    before = settled_rss_mb(hostile.pid)
    with hostile.client() as api:
        try:
            r = api.post("/api/promptly/tasks", content=chunks(),
                         headers={"content-type": "application/json"})
        except httpx.TransportError:  # the daemon may close before we finish sending
            r = None
        if r is not None:
            assert r.status_code == 413, r.text
            assert_error_shape(r.json(), "payload_too_large")
        assert rss_mb(hostile.pid) - before < 40  # never held the 20 MB
        assert api.get("/api/promptly/tasks").json() == []  # nothing was created
    assert "bug while serving" not in hostile.log()


def test_a_body_at_the_limit_is_read(api: httpx.Client) -> None:
    body = b'{"name": "x", "prompt": "' + b"a" * (LIMIT - 100) + b'"}'
    r = api.post("/api/promptly/tasks", content=body,
                 headers={"content-type": "application/json"})
    assert r.status_code == 400  # read whole and judged: the prompt is too long
    assert r.json()["error"]["field"] == "prompt"


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,                          # past Python's recursion limit
    b'{"name": "x", "prompt": "p", "x": ' + b'{"a": ' * 100 + b"1" + b"}" * 101,
    b'{"name": "x", "prompt": "p", "destinations": ' + b"[" * 65 + b"]" * 65 + b"}",
], ids=["100000-arrays", "100-objects", "65-arrays"])
def test_deeply_nested_json_is_a_400(api: httpx.Client, body: bytes) -> None:
    r = api.post("/api/promptly/tasks", content=body,
                 headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert_error_shape(r.json(), "invalid_request")
    assert "nested more than 64 levels" in r.json()["error"]["message"]
    assert api.get("/api/promptly/tasks").json() == []


def test_nesting_within_the_limit_is_judged_as_usual(api: httpx.Client) -> None:
    body = b'{"name": "x", "prompt": "p", "x": ' + b'{"a": ' * 10 + b"1" + b"}" * 11
    r = api.post("/api/promptly/tasks", content=body)
    assert r.status_code == 400 and r.json()["error"]["field"] == "x"  # unknown field


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe", "prompt": "p"}',
    b'{"name": "caf\xc3", "prompt": "p"}',
    b'{"name": "\xed\xa0\x80", "prompt": "p"}',
    b'\xff\xfe{\x00}\x00',
], ids=["ff-fe", "truncated", "surrogate", "utf-16"])
def test_invalid_utf8_is_a_400(api: httpx.Client, body: bytes) -> None:
    r = api.post("/api/promptly/tasks", content=body,
                 headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert_error_shape(r.json(), "invalid_request")
    assert "UTF-8" in r.json()["error"]["message"]
    patched = api.patch("/api/promptly/tasks/00000000-0000-4000-8000-000000000000",
                        content=body)
    assert patched.status_code in (400, 404)


def test_a_lone_surrogate_escape_is_a_400(api: httpx.Client) -> None:
    r = api.post("/api/promptly/tasks", content=b'{"name": "a\\ud800b", "prompt": "p"}')
    assert r.status_code == 400, r.text
    assert "surrogate" in r.json()["error"]["message"]
    assert api.get("/api/promptly/tasks").json() == []


def test_headers_over_64_kb_are_a_431(hostile: DaemonProcess) -> None:
    with raw_connect(hostile) as s:
        s.sendall(b"GET /api/promptly/health HTTP/1.1\r\nhost: x\r\n")
        try:
            for i in range(100):
                s.sendall(f"x-filler-{i}: ".encode() + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # cut off while still sending: also right
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"headers_too_large" in answer


def test_a_slow_half_request_is_cut_off_and_logged_as_nothing_worse(
        hostile: DaemonProcess) -> None:
    with raw_connect(hostile) as s:
        s.sendall(b"POST /api/promptly/tasks HTTP/1.1\r\nhost: x\r\n"
                  b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"na")
        t0 = time.monotonic()
        assert read_all(s) == b""  # closed without an answer
        assert time.monotonic() - t0 < 20 * TIMEOUT
    with hostile.client() as api:
        assert api.get("/api/promptly/health").status_code == 200
    assert "bug while serving" not in hostile.log()


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(
        hostile: DaemonProcess) -> None:
    with raw_connect(hostile) as s:
        s.sendall(b"GET /api/promptly/health HTTP/1.1\r\nhost: x\r\n\r\n")
        first = read_response(s)  # all of it: a partial read would look like a 2nd answer
        assert first.startswith(b"HTTP/1.1 200 ")
        s.sendall(b"GET /api/promptly/health HTTP/1.1\r\nhost:")  # half of the next one
        assert read_all(s) == b""


def test_a_thousand_silent_or_half_clients_leave_no_file_descriptors(
        hostile: DaemonProcess) -> None:
    pid = hostile.pid
    with hostile.client() as api:
        assert api.get("/api/promptly/health").status_code == 200
    baseline = wait_for(lambda: open_fds(pid) or None, 5, "fd count")
    halves = [b"", b"GET /api/promptly/tasks HTTP/1.1\r\n", b"GET /api/pro",
              b"POST /api/promptly/tasks HTTP/1.1\r\ncontent-length: 50\r\n\r\n{"]
    for batch in range(4):  # 4 x 250 = 1,000 connections
        clients = []
        for i in range(250):
            s = raw_connect(hostile)
            if halves[i % 4]:
                s.sendall(halves[i % 4])
            clients.append(s)
        wait_for(lambda: open_fds(pid) >= baseline + 200 or None, 30,
                 f"batch {batch}: the daemon accepted the connections")
        wait_for(lambda: open_fds(pid) <= baseline + 2 or None, 30 + 10 * TIMEOUT,
                 f"batch {batch}: the daemon closed them (fds {open_fds(pid)}, "
                 f"baseline {baseline})")
        for s in clients:
            s.settimeout(10)
            assert s.recv(100) == b""  # the daemon hung up: EOF, no answer
            s.close()
    with hostile.client() as api:
        assert api.get("/api/promptly/health").status_code == 200
    assert "bug while serving" not in hostile.log()


def test_a_thousand_idle_sse_clients_stay_connected_and_all_hear_an_event(
        hostile: DaemonProcess) -> None:
    # request_timeout_seconds cuts off requests that never complete, not event
    # streams that stay open; the daemon keeps answering with 1,000 of them idle
    pid = hostile.pid
    with hostile.client() as api:
        assert api.get("/api/promptly/health").status_code == 200
    baseline = open_fds(pid)
    clients = []
    for _ in range(1000):
        s = raw_connect(hostile)
        s.sendall(b"GET /api/promptly/events HTTP/1.1\r\nhost: localhost\r\n\r\n")
        clients.append(s)
    heads = {}
    for s in clients:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "an event stream closed before its head"
            head += chunk
        heads[s.fileno()] = head
    assert all(h.startswith(b"HTTP/1.1 200") for h in heads.values())
    time.sleep(3 * TIMEOUT)  # past the request timeout: nobody is cut off
    with hostile.client() as api:
        assert api.get("/api/promptly/health").status_code == 200
        assert api.post("/api/promptly/tasks", json={
            "name": "fan-out", "prompt": "p", "model": "ollama/llama3.2"}).status_code == 201
    for s in clients:
        got = heads[s.fileno()]
        while b"task.created" not in got:
            chunk = s.recv(65536)
            assert chunk, "an event stream closed before the event"
            got += chunk
    for s in clients:
        s.close()
    wait_for(lambda: open_fds(pid) <= baseline + 2 or None, 30,
             f"the daemon closed the streams (fds {open_fds(pid)}, baseline {baseline})")
    assert "bug while serving" not in hostile.log()


def test_request_timeout_must_be_positive(daemon_factory: Any) -> None:
    d = daemon_factory(config="request_timeout_seconds = 0\n")
    proc = d.spawn()
    assert proc.wait(20) == 78
    assert "request_timeout_seconds: must be greater than 0" in d.log()


def _counters(api: httpx.Client) -> dict[str, int]:
    counters: dict[str, int] = api.get("/api/promptly/health").json()["counters"]
    return counters


def test_a_thousand_idle_event_clients_leave_the_daemon_unharmed(
        daemon_factory: Any) -> None:
    from tests.fakes.model_servers import OpenAIServer, reply

    with OpenAIServer() as oai:
        d: DaemonProcess = daemon_factory(config=(
            f"request_timeout_seconds = {TIMEOUT}\n"
            f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\n'
            "local = true\nmax_retries = 0\n")).start()
        pid = d.pid
        with d.client() as api:
            assert _counters(api)["eventSubscribers"] == 0
            baseline = open_fds(pid)
            clients = []
            for i in range(1000):  # half read only the answer's head, half read nothing
                s = raw_connect(d)
                # a quick heartbeat for some: 100 timers firing every second meanwhile
                beat = 1 if i % 10 == 0 else 15
                s.sendall(f"GET /api/promptly/events?heartbeat={beat} HTTP/1.1\r\n"
                          "host: localhost\r\n\r\n".encode())
                clients.append(s)
            for s in clients[::2]:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(1)
                    assert chunk, head
                    head += chunk
                assert head.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in head
            wait_for(lambda: _counters(api)["eventSubscribers"] == 1000 or None, 60,
                     "1,000 subscribers")
            assert open_fds(pid) >= baseline + 1000
            assert _counters(api)["eventTimers"] == 2  # one per heartbeat interval in use
            published = _counters(api)["eventsPublished"]

            t0 = time.monotonic()
            task = api.post("/api/promptly/tasks", json={
                "name": "Crowded", "prompt": "hi", "model": "fake/m"}).json()
            oai.script([reply("ok")])
            run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
            def finished() -> dict[str, Any] | None:
                run: dict[str, Any] = api.get(f"/api/promptly/runs/{run_id}").json()
                return run if run["status"] in ("completed", "failed") else None

            run = wait_for(finished, 30, "the run")
            took = time.monotonic() - t0
            assert run["status"] == "completed", run
            assert took < 10, took  # an instant model: well under this on a busy machine
            assert api.get("/api/promptly/tasks").json()[0]["id"] == task["id"]

            counters = _counters(api)
            assert counters["eventSubscribers"] == 1000
            # task.created, run.created, run.started, run.completed, task.updated (last run)…
            assert counters["eventsPublished"] - published >= 4
            assert counters["eventsDropped"] == 0  # a handful of events fit every queue
            # what a client has not read sits in the kernel's buffers, not the daemon's queues
            wait_for(lambda: _counters(api)["eventsBacklog"] == 0 or None, 30,
                     "every subscriber's queue drained into its socket")

            for s in clients:
                s.close()
            wait_for(lambda: _counters(api)["eventSubscribers"] == 0 or None, 60,
                     "the subscriptions ended with their connections")
            assert _counters(api)["eventTimers"] == 0
            wait_for(lambda: open_fds(pid) <= baseline or None, 30,
                     f"fds back to baseline (now {open_fds(pid)}, baseline {baseline})")
    assert "bug while serving" not in d.log()
