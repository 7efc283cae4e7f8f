"""Hostile peers and files: a source that answers 100 MB, a model that streams forever,
a 50 MB skill file. The daemon reads what it needs and no more (memory stays bounded),
the run ends when it should, and what happened is reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_proc import DaemonProcess, wait_for
from tests.fakes.helpers import serving
from tests.fakes.model_servers import OpenAIServer, reply, running, tool_call
from tests.test_hostile_input import rss_mb, settled_rss_mb

MB = 1_000_000


class _Flood(BaseHTTPRequestHandler):
    """GET /huge: 100 MB of text without a length, until the reader goes away;
    POST /v1/chat/completions: headers, then a byte every 50 ms, forever."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/small"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"small")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        block = b"a" * MB
        try:
            for _ in range(100):
                self.wfile.write(block)
                self.server.sent += len(block)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up = True  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(10 * MB))
        self.end_headers()
        try:
            self.wfile.write(b'{"id": "x", "choices": [{"message": {"content": "')
            while not self.server.stopping:  # type: ignore[attr-defined]
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            self.server.hung_up = True  # type: ignore[attr-defined]


@pytest.fixture
def flood() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    httpd.sent = 0  # type: ignore[attr-defined]
    httpd.hung_up = False  # type: ignore[attr-defined]
    httpd.stopping = False  # type: ignore[attr-defined]
    httpd.daemon_threads = True
    with serving(httpd):
        yield httpd
        httpd.stopping = True  # type: ignore[attr-defined]


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def finished(api: Any, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/api/promptly/runs/{run_id}").json()
        return run if run["status"] in ("completed", "failed") else None

    return wait_for(done, timeout, f"run {run_id} to finish")


def test_a_source_answering_100_mb_is_cut_and_never_held(
        daemon_factory: Any, oai: OpenAIServer, flood: ThreadingHTTPServer) -> None:
    d: DaemonProcess = daemon_factory(config=(
        f'run_timeout_seconds = 60\n[providers.fake]\nkind = "openai"\n'
        f'base_url = "{oai.base_url}"\nlocal = true\n')).start()
    oai.script([tool_call("flood__request", {"path": "/small"}), reply("warmed up"),
                tool_call("flood__request", {"path": "/huge"}), reply("read enough")])
    with d.client() as api:
        source = api.post("/api/promptly/sources", json={
            "name": "Flood", "type": "api", "config": {"baseUrl": url(flood)}}).json()
        task = api.post("/api/promptly/tasks", json={
            "name": "t", "prompt": "p", "model": "fake/m", "sourceIds": [source["id"]]}).json()
        # a first run loads what runs load (SDKs, clients): measure after it
        warm = finished(api, api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"])
        assert warm["status"] == "completed", warm
        before = settled_rss_mb(d.pid)
        run = finished(api, api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"])
        grew = rss_mb(d.pid) - before
    assert run["status"] == "completed", run
    [call] = run["toolCalls"]
    assert call["error"] is None, call
    assert "[response cut: the rest of over" in call["output"]
    assert len(call["output"]) <= 20_000  # max_tool_output_chars, the note included
    assert grew < 40, f"RSS grew by {grew:.0f} MB while a 100 MB answer streamed"
    wait_for(lambda: flood.hung_up or None, 10,  # type: ignore[attr-defined]
             "the daemon to stop reading and hang up")
    assert flood.sent < 100 * MB  # type: ignore[attr-defined]


def test_a_model_that_streams_forever_is_stopped_by_the_run_timeout(
        daemon_factory: Any, flood: ThreadingHTTPServer) -> None:
    d: DaemonProcess = daemon_factory(config=(
        f'run_timeout_seconds = 2\n[providers.flood]\nkind = "openai"\n'
        f'base_url = "{url(flood)}/v1"\nlocal = true\nmax_retries = 0\n'
        "timeout_seconds = 60\n")).start()
    with d.client() as api:
        task = api.post("/api/promptly/tasks", json={
            "name": "t", "prompt": "p", "model": "flood/m"}).json()
        t0 = time.monotonic()
        run = finished(api, api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"])
        took = time.monotonic() - t0
        assert run["status"] == "failed"
        assert "timed out after 2 s" in run["error"], run["error"]
        assert took < 30
        wait_for(lambda: flood.hung_up or None, 10,  # type: ignore[attr-defined]
                 "the daemon to drop the endless answer")
        assert api.get("/api/promptly/health").status_code == 200


def test_a_50_mb_skill_file_is_reported_not_loaded(daemon: DaemonProcess,
                                                   isolated_home: Path) -> None:
    skills = isolated_home / ".config" / "promptly" / "skills"
    skills.mkdir(parents=True, exist_ok=True)
    with daemon.client() as api:
        # a small skill first, so the sync's own first-use cost is not counted
        (skills / "small.md").write_text("---\nname: Small\n---\nBe brief.\n")
        wait_for(lambda: [s for s in api.get("/api/promptly/skills").json()
                          if s["slug"] == "small"], 30, "the small skill")
        before = settled_rss_mb(daemon.pid)
        big = isolated_home / "huge.md"  # written beside, then moved in whole
        with big.open("wb") as fh:
            line = b"Be brief. " * 100 + b"\n"
            for _ in range(50 * MB // len(line)):
                fh.write(line)
        big.rename(skills / "huge.md")

        def reported() -> dict[str, Any] | None:
            for skill in api.get("/api/promptly/skills").json():
                if skill["slug"] == "huge" and skill.get("problem"):
                    return dict(skill)
            return None

        skill = wait_for(reported, 30, "the 50 MB skill to be reported")
        grew = rss_mb(daemon.pid) - before
    assert "limited to 1 MB" in skill["problem"], skill["problem"]
    assert skill["content"] == ""
    assert grew < 20, f"RSS grew by {grew:.0f} MB after a 50 MB skill file appeared"
