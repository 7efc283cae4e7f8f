"""Security canaries: one full run that uses a model key, a source token, the SMTP
password and the webhook signing secret — each really sent where it belongs — and
then none of the four is in the database file, its WAL, the log (at DEBUG) or any
API answer. (The socket refusing another uid: tests/test_daemon_lifecycle.py.)

FOLLOW-UP (issue 12, after the web listener is merged): the web listener refuses
requests without a session — add it here, and scan its answers for the canaries too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.daemon_proc import DaemonProcess
from tests.fakes.helpers import serving
from tests.fakes.model_servers import OpenAIServer, reply, running, tool_call
from tests.fakes.receivers import Receiver
from tests.fakes.smtp_server import SmtpServer
from tests.rows import db_path
from tests.test_destinations_webhook import set_secret, wait_delivery

MODEL_KEY = "sk-canary-model-3c9d1e7a5b"
SOURCE_TOKEN = "canary-source-token-8b2f4a6c"
SMTP_PASSWORD = "canary-smtp-password-5e1d9c3b"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"canary-webhook-signing-key-0042").decode()
CANARIES = {"model key": MODEL_KEY, "source token": SOURCE_TOKEN,
            "SMTP password": SMTP_PASSWORD, "webhook secret": WEBHOOK_SECRET,
            "webhook key (base64 part)": WEBHOOK_SECRET.removeprefix("whsec_")}


class _Guarded(BaseHTTPRequestHandler):
    """An HTTP API that answers only with the right bearer token."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        ok = self.headers.get("authorization") == f"Bearer {SOURCE_TOKEN}"
        self.server.authorized += ok  # type: ignore[attr-defined]
        body = json.dumps({"forecast": "sunny"} if ok else {"error": "no"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def guarded() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Guarded)
    httpd.authorized = 0  # type: ignore[attr-defined]
    with serving(httpd):
        yield httpd


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer(require_key=MODEL_KEY))


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, "me@example.com", SMTP_PASSWORD).start()
    yield server
    server.stop()


def leaks_in(where: str, data: bytes) -> list[str]:
    return [f"{name} in {where}" for name, value in CANARIES.items() if value.encode() in data]


def test_no_secret_reaches_the_database_the_wal_the_log_or_an_answer(
        daemon_factory: Any, isolated_home: Path, oai: OpenAIServer, smtp: SmtpServer,
        guarded: ThreadingHTTPServer) -> None:
    for name, value in (("fakeai", MODEL_KEY), ("weather", SOURCE_TOKEN),
                        ("smtp", SMTP_PASSWORD), ("webhook", WEBHOOK_SECRET)):
        set_secret(isolated_home, name, value)
    hook = Receiver().start()
    config = (
        'log_level = "DEBUG"\nsecrets_backend = "file"\nrun_timeout_seconds = 30\n'
        f'[providers.fakeai]\nkind = "openai"\nbase_url = "{oai.base_url}"\n'
        'api_key = "fakeai"\nmax_retries = 0\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "starttls"\n'
        'username = "me@example.com"\nfrom = "promptly <me@example.com>"\n'
        "[delivery]\nretry_schedule_seconds = [0.2]\ntimeout_seconds = 5\n")
    oai.script([tool_call("weather__request", {"path": "/today"}), reply("sunny, says the API")])
    answers: list[tuple[str, bytes]] = []
    leaks: list[str] = []
    try:
        d: DaemonProcess = daemon_factory(config=config,
                                          env={"SSL_CERT_FILE": str(smtp.cert)}).start()
        with d.client() as api:
            def get(path: str) -> Any:
                r = api.get(path)
                answers.append((path, r.content))
                return r.json()

            source = api.post("/api/promptly/sources", json={
                "name": "Weather", "type": "api", "authType": "bearer",
                "authConfig": {"secretName": "weather"},
                "config": {"baseUrl": f"http://127.0.0.1:{guarded.server_address[1]}"}})
            answers.append(("POST /sources", source.content))
            tested = api.post(f"/api/promptly/sources/{source.json()['id']}/test")
            answers.append(("POST /sources/{id}/test", tested.content))
            assert tested.json()["success"] is True, tested.text
            task = api.post("/api/promptly/tasks", json={
                "name": "Canary", "prompt": "weather?", "model": "fakeai/m",
                "sourceIds": [source.json()["id"]],
                "destinations": [{"type": "email", "value": "reader@example.org"},
                                 {"type": "webhook", "value": hook.url}]})
            answers.append(("POST /tasks", task.content))
            started = api.post(f"/api/promptly/tasks/{task.json()['id']}/run")
            answers.append(("POST /tasks/{id}/run", started.content))
            run = wait_delivery(api, started.json()["id"], timeout=60)
            assert run["status"] == "completed", run
            assert run["deliveryStatus"] == "delivered", run["deliveries"]
            for path in ("/api/promptly/tasks", "/api/promptly/runs", "/api/promptly/sources",
                         "/api/promptly/skills", "/api/promptly/models", "/api/promptly/stats",
                         "/api/promptly/health", "/api/promptly/billing/status",
                         "/api/promptly/openapi.json", f"/api/promptly/runs/{run['id']}",
                         f"/api/promptly/tasks/{task.json()['id']}",
                         f"/api/promptly/tasks/{task.json()['id']}/runs",
                         f"/api/promptly/sources/{source.json()['id']}"):
                get(path)
            # while the daemon runs, the WAL holds the latest writes
            for f in db_path(d).parent.iterdir():
                if f.is_file():
                    leaks += leaks_in(f"{f.name} (running)", f.read_bytes())
        d.stop()
    finally:
        hook.stop()
    # each secret was really used, so its absence below means something
    assert all(oai.key_of(r) == MODEL_KEY for r in oai.completion_requests)
    assert guarded.authorized >= 2  # type: ignore[attr-defined]  # the test, then the run
    assert smtp.logins == [("me@example.com", True)] and smtp.mailbox.messages
    [delivered] = hook.requests
    Webhook(WEBHOOK_SECRET).verify(delivered.body, delivered.headers)
    files = [f for f in db_path(d).parent.iterdir() if f.is_file()]
    assert any(f.name == "promptly.db" for f in files)
    for f in files:
        leaks += leaks_in(f.name, f.read_bytes())
    log = d.log().encode()
    assert b"DEBUG" in log
    leaks += leaks_in("the log", log)
    for where, body in answers:
        leaks += leaks_in(f"the answer to {where}", body)
    assert leaks == []
