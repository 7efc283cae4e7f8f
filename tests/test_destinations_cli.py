"""`promptly secrets set webhook --generate`, `promptly runs redeliver`, and the 400s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook

from promptlyd.cli import cli
from tests.fakes.model_servers import OpenAIServer, running
from tests.fakes.receivers import Receiver
from tests.test_destinations_webhook import delivery_config, make_task, run_and_wait_delivery


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def test_generate_makes_stores_and_prints_a_whsec_secret_once(config_path: Path) -> None:
    config_path.write_text('secrets_backend = "file"\n')
    result = CliRunner().invoke(cli, ["secrets", "set", "webhook", "--generate"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("whsec_")
    stored = json.loads((config_path.parent / "secrets.json").read_text())
    assert stored["secrets"]["webhook"] == secret
    hook = Webhook(secret)  # the package accepts it as a key
    assert hook.sign("msg_1", __import__("datetime").datetime.now(), "{}").startswith("v1,")
    again = CliRunner().invoke(cli, ["secrets", "set", "webhook", "--generate"])
    assert again.stdout.strip() != secret  # a new one each time


def test_generate_is_for_the_webhook_secret_only(config_path: Path) -> None:
    config_path.write_text('secrets_backend = "file"\n')
    result = CliRunner().invoke(cli, ["secrets", "set", "smtp", "--generate"])
    assert result.exit_code != 0
    assert "webhook" in result.output
    assert not (config_path.parent / "secrets.json").exists()


def test_runs_redeliver_and_show(daemon_factory: Any, oai: OpenAIServer) -> None:
    hook = Receiver().start()
    try:
        d = daemon_factory(config=delivery_config(oai)).start()
        with d.client() as api:
            task = make_task(api, [{"type": "webhook", "value": hook.url, "label": "ops"}])
            run = run_and_wait_delivery(api, task["id"])
            result = CliRunner().invoke(cli, ["runs", "redeliver", run["id"][:8]],
                                        catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert "Queued run" in result.output and "1 destination again" in result.output
            hook.wait_for(2)
            shown = CliRunner().invoke(cli, ["runs", "show", run["id"]], catch_exceptions=False)
            missing = CliRunner().invoke(
                cli, ["runs", "redeliver", "00000000-0000-4000-8000-000000000000"])
    finally:
        hook.stop()
    assert f"delivery webhook http://127.0.0.1:{hook.port}/:" in shown.output
    assert missing.exit_code != 0 and "no run" in missing.output


@pytest.mark.parametrize(("dest", "field"), [
    ({"type": "email", "value": "not-an-address"}, "destinations[1].value"),
    ({"type": "sms", "value": "0151 1234"}, "destinations[1].value"),
    ({"type": "webhook", "value": "ftp://example.com/x"}, "destinations[1].value"),
    ({"type": "pager", "value": "x"}, "destinations[1].type"),
])
def test_a_bad_destination_is_a_400_naming_its_index_and_field(
        api: httpx.Client, dest: dict[str, str], field: str) -> None:
    body = {"name": "t", "prompt": "p", "destinations": [
        {"type": "webhook", "value": "https://example.com/ok"}, dest]}
    r = api.post("/api/promptly/tasks", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field
    assert api.get("/api/promptly/tasks").json() == []  # nothing created


def test_an_unknown_deliver_on_is_a_400(api: httpx.Client) -> None:
    r = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "p", "deliverOn": "daily"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "deliverOn"
    task = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "p"}).json()
    assert task["deliverOn"] == "always"
    r = api.patch(f"/api/promptly/tasks/{task['id']}", json={"deliverOn": "sometimes"})
    assert r.status_code == 400
    r = api.patch(f"/api/promptly/tasks/{task['id']}", json={"deliverOn": "changed"})
    assert r.status_code == 200 and r.json()["deliverOn"] == "changed"


def test_legacy_flags_and_destinations_map_both_ways(api: httpx.Client) -> None:
    legacy = api.post("/api/promptly/tasks", json={
        "name": "t", "prompt": "p", "deliverySms": True,
        "deliveryPhoneNumber": "+4915112345678"}).json()
    assert legacy["destinations"] == [{"type": "sms", "value": "+4915112345678"}]
    modern = api.post("/api/promptly/tasks", json={
        "name": "t", "prompt": "p",
        "destinations": [{"type": "email", "value": "me@example.com"}]}).json()
    assert modern["deliveryEmail"] is True
    assert modern["deliveryEmailAddress"] == "me@example.com"
    assert modern.get("deliverySms") is None
