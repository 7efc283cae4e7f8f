"""A source that echoes our credential back does not pass it on: the key store's
redactor is applied to tool outputs and errors before they are stored or sent to the
model (the real daemon, a loopback API that echoes its Authorization header)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.helpers import serving
from tests.fakes.model_servers import OpenAIServer, reply, running, tool_call
from tests.test_sources_mcp_e2e import config_for, run_task, set_secret

TOKEN = "canary-echo-5d1e9b7a3c"  # a source credential that must never leak
USER = "robot"
BASIC = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with the Authorization header it got: 200 on /v1/echo,
    500 on /v1/fail (an error body quoting the credential), 200 elsewhere."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        seen = self.headers.get("Authorization", "")
        code = 500 if self.path.startswith("/v1/fail") else 200
        body = json.dumps({"error" if code == 500 else "youSent": seen}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo_api() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Echo)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def nowhere_on_disk(home: Path, *, wal: bool) -> None:
    data_dir = home / ".local" / "share" / "promptly"
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files)
    assert not wal or any(p.name.endswith("-wal") for p in files), files
    for path in files + list(home.glob("daemon*.log")):
        data = path.read_bytes()
        assert TOKEN.encode() not in data and BASIC.encode() not in data, path


def test_an_echoed_credential_reaches_no_database_log_response_or_model(
        daemon_factory: Any, oai: OpenAIServer, echo_api: str, isolated_home: Path) -> None:
    set_secret("echo-token", TOKEN)
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        sources = []
        for name, auth in (("Bearer", {"authType": "bearer",
                                       "authConfig": {"secretName": "echo-token"}}),
                           ("Basic", {"authType": "basic",
                                      "authConfig": {"secretName": "echo-token",
                                                     "username": USER}})):
            r = api.post("/api/promptly/sources", json={
                "name": name, "type": "api", "config": {"baseUrl": echo_api}, **auth})
            assert r.status_code == 201, r.text
            sources.append(r.json())
        oai.script([tool_call("bearer__request", {"path": "/echo"}),
                    tool_call("bearer__request", {"path": "/fail"}),
                    tool_call("basic__request", {"path": "/echo"}),
                    reply("done")])
        run = run_task(api, [s["id"] for s in sources])
        assert run["status"] == "completed", run
        echoed, failed, basic = run["toolCalls"]
        # the calls happened and the server did echo: what came back is redacted
        assert '"youSent": "[redacted]"' in echoed["output"], echoed
        assert failed["output"] is None and "HTTP 500" in failed["error"], failed
        assert "[redacted]" in failed["error"]
        assert '"youSent": "[redacted]"' in basic["output"], basic
        sent = [m.get("content") for m in oai.completion_requests[-1].body["messages"]
                if m["role"] == "tool"]
        assert len(sent) == 3 and all("[redacted]" in str(c) for c in sent), sent
        responses = [api.get(p).text for p in (
            f"/api/promptly/runs/{run['id']}", "/api/promptly/runs", "/api/promptly/sources")]
        nowhere_on_disk(isolated_home, wal=True)  # the WAL, while the daemon runs
    d.stop()
    nowhere_on_disk(isolated_home, wal=False)
    for text in responses:
        assert TOKEN not in text and BASIC not in text
    for request in oai.requests:
        raw = request.raw.decode()
        assert TOKEN not in raw and BASIC not in raw
