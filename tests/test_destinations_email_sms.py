"""Email through a real STARTTLS + AUTH SMTP server, SMS through a Twilio-shaped loopback
API, and the secrets canary: none of them in the database, the log or an answer."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.model_servers import OpenAIServer, reply, running
from tests.fakes.receivers import Receiver
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.test_destinations_webhook import (
    delivery_config,
    make_task,
    run_and_wait_delivery,
    set_secret,
)

SMTP_PASSWORD = "canary-smtp-9f8e7d6c5b4a"
SMS_TOKEN = "canary-sms-0a1b2c3d4e5f"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"canary-webhook-key-123456789012").decode()
OUTPUT = "# Weekly\n\n- **one** thing\n- another\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, "me@example.com", SMTP_PASSWORD).start()
    yield server
    server.stop()


def smtp_config(port: int, extra: str = "") -> str:
    return (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "starttls"\n'
            f'username = "me@example.com"\nfrom = "promptly <me@example.com>"\n'
            f'reply_to = "replies@example.com"\n{extra}')


def start(daemon_factory: Any, oai: OpenAIServer, smtp: SmtpServer, extra: str = "",
          schedule: str = "[0.2, 0.2]") -> Any:
    config = delivery_config(oai, schedule, extra=smtp_config(smtp.port) + extra)
    # the daemon trusts the test certificate (ssl's default context reads SSL_CERT_FILE)
    return daemon_factory(config=config, env={"SSL_CERT_FILE": str(smtp.cert)}).start()


def test_email_over_starttls_with_auth_has_text_and_html_parts(
        daemon_factory: Any, oai: OpenAIServer, smtp: SmtpServer, isolated_home: Path) -> None:
    set_secret(isolated_home, "smtp", SMTP_PASSWORD)
    oai.script([reply(OUTPUT)])
    d = start(daemon_factory, oai, smtp)
    with d.client() as api:
        task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["deliveryStatus"] == "delivered", run
    [item] = run["deliveries"]
    assert item["target"] == "re***@example.org" and item["lastCode"] == "250"
    assert smtp.logins == [("me@example.com", True)]
    [msg] = smtp.mailbox.messages
    assert smtp.mailbox.envelopes == [("me@example.com", ["reader@example.org"])]
    assert msg["To"] == "reader@example.org"
    assert msg["From"] == "promptly <me@example.com>"
    assert msg["Reply-To"] == "replies@example.com"
    assert msg["Subject"].startswith("Brief — 20") and "failed" not in msg["Subject"]
    assert msg["X-Promptly-Run"] == run["id"]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "- **one** thing" in text.get_content()
    rendered = html.get_content()
    assert "<h1>Weekly</h1>" in rendered and "<strong>one</strong>" in rendered
    assert "<table>" in rendered


def test_smtp_auth_rejected_fails_the_delivery_with_the_reason_not_the_run(
        daemon_factory: Any, oai: OpenAIServer, smtp: SmtpServer, isolated_home: Path) -> None:
    set_secret(isolated_home, "smtp", "wrong-password")
    oai.script([reply("kept")])
    d = start(daemon_factory, oai, smtp)
    with d.client() as api:
        task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["status"] == "completed" and run["output"] == "kept"
    assert run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["lastCode"] == "535" and "rejected the login" in item["lastError"]
    assert item["attempts"] == 1  # final: retrying a wrong password does not help
    assert smtp.mailbox.messages == []


def test_a_server_without_starttls_is_a_final_failure_that_says_what_to_set(
        daemon_factory: Any, oai: OpenAIServer, isolated_home: Path, tmp_path: Path) -> None:
    set_secret(isolated_home, "smtp", SMTP_PASSWORD)
    plain = SmtpServer(tmp_path, "me@example.com", SMTP_PASSWORD, starttls=False).start()
    try:
        oai.script([reply("kept")])
        d = start(daemon_factory, oai, plain)
        with d.client() as api:
            task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
            run = run_and_wait_delivery(api, task["id"])
    finally:
        plain.stop()
    assert run["status"] == "completed" and run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["attempts"] == 1  # final: the server will not start offering it
    assert "does not offer STARTTLS" in item["lastError"] and 'security' in item["lastError"]
    assert plain.mailbox.messages == []  # the password never went over a plain connection


def test_a_temporary_login_failure_is_retried(
        daemon_factory: Any, oai: OpenAIServer, isolated_home: Path, tmp_path: Path) -> None:
    set_secret(isolated_home, "smtp", SMTP_PASSWORD)
    busy = SmtpServer(tmp_path, "me@example.com", SMTP_PASSWORD,
                      auth_reply="454 4.7.0 Temporary authentication failure").start()
    try:
        oai.script([reply("kept")])
        d = start(daemon_factory, oai, busy)
        with d.client() as api:
            task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
            run = run_and_wait_delivery(api, task["id"])
    finally:
        busy.stop()
    assert run["status"] == "completed" and run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["lastCode"] == "454" and item["attempts"] == 3  # retried on the schedule
    assert len(busy.logins) >= 3 and busy.mailbox.messages == []  # tried on each attempt


def test_smtp_down_fails_after_the_schedule(daemon_factory: Any, oai: OpenAIServer,
                                            isolated_home: Path, tmp_path: Path) -> None:
    set_secret(isolated_home, "smtp", SMTP_PASSWORD)
    port = free_port()  # nobody listens there
    oai.script([reply("kept")])
    d = daemon_factory(config=delivery_config(oai, extra=smtp_config(port))).start()
    with d.client() as api:
        task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["status"] == "completed" and run["output"] == "kept"
    assert run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["attempts"] == 3 and f"127.0.0.1:{port}" in item["lastError"]


def test_no_smtp_host_is_a_final_failure_that_says_what_to_set(
        daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "email", "value": "reader@example.org"}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["deliveryStatus"] == "failed"
    assert "set [smtp] host" in run["deliveries"][0]["lastError"]


def sms_run(daemon_factory: Any, oai: OpenAIServer, home: Path, *, status: int,
            path: str = "", extra: str = "") -> tuple[dict[str, Any], Receiver]:
    """One run delivered by SMS to a Twilio-shaped receiver answering ``status``."""
    set_secret(home, "sms", SMS_TOKEN)
    twilio = Receiver(default=status).start()
    try:
        config = (f'[sms]\nbase_url = "{twilio.url}{path}"\naccount_sid = "AC123"\n'
                  f'from = "+15550001111"\n{extra}')
        d = daemon_factory(config=delivery_config(oai, extra=config)).start()
        with d.client() as api:
            task = make_task(api, [{"type": "sms", "value": "+4915112345678"}])
            run = run_and_wait_delivery(api, task["id"])
    finally:
        twilio.stop()
    return run, twilio


def test_sms_through_the_twilio_shape_is_truncated_with_a_note(
        daemon_factory: Any, oai: OpenAIServer, isolated_home: Path) -> None:
    oai.script([reply("x" * 500)])
    run, twilio = sms_run(daemon_factory, oai, isolated_home, status=201, path="/2010-04-01",
                          extra="max_length = 120\n")
    assert run["deliveryStatus"] == "delivered", run
    assert run["deliveries"][0]["target"] == "+49*******5678"
    [req] = twilio.requests
    assert req.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(
        f"AC123:{SMS_TOKEN}".encode()).decode()
    form = req.form()
    assert form["To"] == "+4915112345678" and form["From"] == "+15550001111"
    assert len(form["Body"]) == 120 and "truncated" in form["Body"]
    assert form["Body"].startswith("Brief: xxx")


def test_sms_provider_refusal_is_final_with_its_message(
        daemon_factory: Any, oai: OpenAIServer, isolated_home: Path) -> None:
    run, _ = sms_run(daemon_factory, oai, isolated_home, status=400)
    assert run["deliveryStatus"] == "failed"
    item = run["deliveries"][0]
    assert item["attempts"] == 1 and "HTTP 400" in item["lastError"]
    assert "answered 400" in item["lastError"]  # the provider's own message


def test_secrets_appear_in_no_database_file_log_or_answer(
        daemon_factory: Any, oai: OpenAIServer, smtp: SmtpServer, isolated_home: Path) -> None:
    set_secret(isolated_home, "smtp", SMTP_PASSWORD)
    set_secret(isolated_home, "sms", SMS_TOKEN)
    set_secret(isolated_home, "webhook", WEBHOOK_SECRET)
    hook = Receiver(default=500).start()
    twilio = Receiver(default=401).start()  # refused: the error path is checked too
    answers: list[str] = []
    try:
        extra = (f'[sms]\nbase_url = "{twilio.url}"\naccount_sid = "AC123"\n'
                 'from = "+15550001111"\n')
        d = start(daemon_factory, oai, smtp, extra=extra)
        with d.client() as api:
            task = make_task(api, [{"type": "email", "value": "reader@example.org"},
                                   {"type": "sms", "value": "+4915112345678"},
                                   {"type": "webhook", "value": hook.url}])
            run = run_and_wait_delivery(api, task["id"])
            for path in ("/api/promptly/tasks", "/api/promptly/runs", "/api/promptly/health",
                         f"/api/promptly/runs/{run['id']}"):
                answers.append(api.get(path).text)
            answers.append(api.post(f"/api/promptly/runs/{run['id']}/redeliver").text)
        d.stop()
    finally:
        hook.stop()
        twilio.stop()
    assert run["deliveryStatus"] == "failed"  # webhook 500s and SMS refused
    assert len(smtp.mailbox.messages) >= 1 and len(twilio.requests) >= 1
    data_dir = isolated_home / ".local" / "share" / "promptly"
    files = [p for p in data_dir.iterdir() if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files) or files
    logs = [p.read_bytes() for p in isolated_home.glob("daemon*.log")]
    for secret in (SMTP_PASSWORD, SMS_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET[6:]):
        for p in files:
            assert secret.encode() not in p.read_bytes(), p
        for log in logs:
            assert secret.encode() not in log
        for text in answers:
            assert secret not in text
    assert os.path.exists(smtp.cert)
