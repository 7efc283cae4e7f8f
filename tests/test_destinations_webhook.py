"""Webhooks end to end: the real daemon, a loopback receiver, the outbox's retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from promptlyd.destinations.signing import generate_secret
from promptlyd.runs.states import INTERRUPTED
from promptlyd.secrets import FileStore
from tests.daemon_proc import DaemonProcess
from tests.fakes.http_peers import ForwardProxy
from tests.fakes.model_servers import OpenAIServer, reply, running, slow, status
from tests.fakes.receivers import Receiver
from tests.test_runs_e2e import config_for


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def delivery_config(oai: OpenAIServer, schedule: str = "[0.2, 0.2]", extra: str = "") -> str:
    return config_for(oai, extra=f'secrets_backend = "file"\n{extra}') + \
        f"[delivery]\nretry_schedule_seconds = {schedule}\ntimeout_seconds = 5\n"


def set_secret(home: Path, name: str, value: str) -> None:
    FileStore(home / ".config" / "promptly" / "secrets.json").set(name, value)


def make_task(api: httpx.Client, dests: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    r = api.post("/api/promptly/tasks", json={
        "name": "Brief", "model": "fake/m", "prompt": "hi", "destinations": dests, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def run_and_wait_delivery(api: httpx.Client, task_id: str, timeout: float = 60.0,
                          until: tuple[str, ...] = ("delivered", "failed")) -> dict[str, Any]:
    r = api.post(f"/api/promptly/tasks/{task_id}/run")
    assert r.status_code == 201, r.text
    return wait_delivery(api, r.json()["id"], timeout, until)


def wait_delivery(api: httpx.Client, run_id: str, timeout: float = 60.0,
                  until: tuple[str, ...] = ("delivered", "failed")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/api/promptly/runs/{run_id}").json()
        if run["status"] in ("completed", "failed") and run.get("deliveryStatus") in until:
            return dict(run)
        assert time.monotonic() < deadline, f"delivery still {run.get('deliveryStatus')}: {run}"
        time.sleep(0.05)


def test_500_500_200_is_delivered_after_3_attempts_with_one_id_and_a_valid_signature(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver, isolated_home: Path) -> None:
    secret = generate_secret()
    set_secret(isolated_home, "webhook", secret)
    hook.script(500, 500, 200)
    oai.script([reply("All quiet.")])
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url + "/in?token=abc"}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["status"] == "completed" and run["deliveryStatus"] == "delivered", run
    [item] = run["deliveries"]
    assert item["type"] == "webhook" and item["status"] == "delivered"
    assert item["attempts"] == 3 and item["lastCode"] == "200" and item["deliveredAt"]
    assert item["target"] == f"http://127.0.0.1:{hook.port}/…"  # path and token masked
    reqs = hook.requests
    assert [r.answered for r in reqs] == [500, 500, 200]
    assert len({r.headers["webhook-id"] for r in reqs}) == 1
    assert reqs[0].headers["webhook-id"].startswith("msg_")
    assert reqs[0].headers["user-agent"].startswith("promptlyd/")
    assert reqs[0].path == "/in?token=abc"
    last = reqs[-1]
    body = Webhook(secret).verify(last.body, last.headers)
    assert body["type"] == "run.completed"
    assert body["data"]["run"]["id"] == run["id"]
    assert body["data"]["run"]["output"] == "All quiet."
    assert body["data"]["task"]["id"] == task["id"] and body["data"]["task"]["name"] == "Brief"
    assert body["timestamp"].endswith("Z")
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(last.body, last.headers)
    tampered = last.body.replace(b"All quiet.", b"All noisy.")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, last.headers)


def test_always_500_fails_after_the_schedule_and_the_run_keeps_its_output(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    hook.default = 500
    oai.script([reply("Output kept.")])
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["status"] == "completed" and run["output"] == "Output kept."
    assert run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["attempts"] == 3 and item["lastCode"] == "500"
    assert "gave up after 3 attempts" in item["lastError"] and "HTTP 500" in item["lastError"]
    assert "nextAttemptAt" not in item
    assert len(hook.requests) == 3
    assert "webhook-signature" not in hook.requests[0].headers  # no secret set: unsigned


def test_410_gone_is_final_and_says_so(daemon_factory: Any, oai: OpenAIServer,
                                       hook: Receiver) -> None:
    hook.script(410)
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["deliveryStatus"] == "failed"
    assert run["deliveries"][0]["attempts"] == 1
    assert "410 Gone" in run["deliveries"][0]["lastError"]


def test_429_retry_after_and_a_dropped_connection_are_retried(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    hook.headers_out = {"retry-after": "0"}
    hook.script(429, "drop", 200)
    d = daemon_factory(config=delivery_config(oai, "[0.1, 0.1, 0.1]")).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}])
        run = run_and_wait_delivery(api, task["id"])
    assert run["deliveryStatus"] == "delivered" and run["deliveries"][0]["attempts"] == 3


def test_a_receiver_down_for_a_while_then_up_gets_it(
        daemon_factory: Any, oai: OpenAIServer) -> None:
    probe = Receiver().start()  # find a free port, then leave it closed
    port = probe.port
    probe.stop()
    # retries every 0.3 s for a minute: the receiver comes up long before they run out,
    # however slow the machine is between noticing the first failure and starting it
    schedule = "[" + ", ".join(["0.3"] * 200) + "]"
    d = daemon_factory(config=delivery_config(oai, schedule)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": f"http://127.0.0.1:{port}/h"}])
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        deadline = time.monotonic() + 30
        while True:  # the first attempt found nobody listening
            run = api.get(f"/api/promptly/runs/{run_id}").json()
            items = run.get("deliveries") or [{}]
            if items[0].get("attempts", 0) >= 1:
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.02)
        assert run["deliveryStatus"] == "pending"
        assert "cannot reach the webhook" in items[0]["lastError"]
        assert items[0]["nextAttemptAt"]
        up = Receiver(port=port).start()
        try:
            run = wait_delivery(api, run_id)
        finally:
            up.stop()
    assert run["deliveryStatus"] == "delivered", run
    assert len(up.requests) == 1


def test_kill_9_while_a_delivery_is_pending_then_restart_delivers_it_once(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    hook.default = 503
    config = delivery_config(oai, "[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]")
    d: DaemonProcess = daemon_factory(config=config).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}])
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        hook.wait_for(1)
    d.kill()
    hook.default = 200
    seen_before = len(hook.requests)
    d2: DaemonProcess = daemon_factory(config=config).start()
    with d2.client() as api:
        run = wait_delivery(api, run_id)
    assert run["deliveryStatus"] == "delivered" and run["status"] == "completed"
    accepted = [r for r in hook.requests if r.answered == 200]
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert len(accepted) == 1 and len(ids) == 1
    assert len(hook.requests) >= seen_before + 1


def test_kill_9_mid_run_then_restart_delivers_the_run_as_failed_once(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    oai.script([slow(600, reply("never seen"))])  # the model is still thinking at the kill
    config = ('run_timeout_seconds = 600\nsecrets_backend = "file"\n'
              f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\n'
              "local = true\nmax_retries = 0\n"
              "[delivery]\nretry_schedule_seconds = [0.2, 0.2]\ntimeout_seconds = 5\n")
    d: DaemonProcess = daemon_factory(config=config).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}])
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        oai.wait_for_requests(1, timeout=60)
        assert api.get(f"/api/promptly/runs/{run_id}").json()["status"] == "running"
    d.kill()
    assert hook.requests == []
    d2: DaemonProcess = daemon_factory(config=config).start()
    with d2.client() as api:
        run = wait_delivery(api, run_id)
    assert run["status"] == "failed" and run["error"] == INTERRUPTED, run
    assert run["deliveryStatus"] == "delivered", run
    [sent] = hook.requests  # once
    assert sent.json()["type"] == "run.failed"
    assert sent.json()["data"]["run"]["id"] == run_id
    assert sent.json()["data"]["run"]["error"] == INTERRUPTED
    assert len(run["deliveries"]) == 1


def test_deliver_on_changed_sends_once_for_identical_outputs(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    oai.script([reply("same"), reply("same"), reply("new")])
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}], deliverOn="changed")
        assert task["deliverOn"] == "changed"
        first = run_and_wait_delivery(api, task["id"])
        second = run_and_wait_delivery(api, task["id"])
        third = run_and_wait_delivery(api, task["id"])
    assert first["deliveries"][0]["status"] == "delivered"
    assert second["deliveryStatus"] == "delivered"  # skipped counts as done
    assert second["deliveries"][0]["status"] == "skipped"
    assert "same as the last one delivered" in second["deliveries"][0]["reason"]
    assert third["deliveries"][0]["status"] == "delivered"
    outputs = [r.json()["data"]["run"]["output"] for r in hook.requests]
    assert outputs == ["same", "new"]


@pytest.mark.parametrize("deliver_on", ["always", "failure"])
def test_a_failed_run_is_delivered_with_its_error(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver, deliver_on: str) -> None:
    oai.script([reply("fine"), status(400, message="bad request: prompt rejected")])
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url}], deliverOn=deliver_on)
        ok = run_and_wait_delivery(api, task["id"])
        bad = run_and_wait_delivery(api, task["id"])
    assert bad["status"] == "failed" and bad["deliveryStatus"] == "delivered"
    events = [json.loads(r.body)["type"] for r in hook.requests]
    if deliver_on == "always":
        assert events == ["run.completed", "run.failed"]
    else:
        assert events == ["run.failed"]
        assert ok["deliveries"][0]["status"] == "skipped"
        assert 'deliverOn is "failure"' in ok["deliveries"][0]["reason"]
    failed_body = hook.requests[-1].json()
    assert "prompt rejected" in failed_body["data"]["run"]["error"]


def test_redeliver_queues_every_destination_again(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [{"type": "webhook", "value": hook.url},
                               {"type": "webhook", "value": hook.url + "/second"}])
        run = run_and_wait_delivery(api, task["id"])
        assert len(hook.requests) == 2
        r = api.post(f"/api/promptly/runs/{run['id']}/redeliver")
        assert r.status_code == 200, r.text
        assert r.json()["deliveryStatus"] == "pending"
        again = wait_delivery(api, run["id"])
        missing = api.post("/api/promptly/runs/00000000-0000-4000-8000-000000000000/redeliver")
    assert again["deliveryStatus"] == "delivered"
    assert [x["attempts"] for x in again["deliveries"]] == [1, 1]
    assert len(hook.requests) == 4
    assert missing.status_code == 404


def test_redeliver_a_run_whose_task_has_no_destinations_is_a_409(
        daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=delivery_config(oai)).start()
    with d.client() as api:
        task = make_task(api, [])
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        deadline = time.monotonic() + 30
        while api.get(f"/api/promptly/runs/{run_id}").json()["status"] not in ("completed",
                                                                               "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        run = api.get(f"/api/promptly/runs/{run_id}").json()
        r = api.post(f"/api/promptly/runs/{run_id}/redeliver")
    assert "deliveryStatus" not in run  # nothing to deliver: no status
    assert r.status_code == 409 and "no destinations" in r.json()["error"]["message"]


def test_a_webhook_is_posted_direct_despite_http_proxy_and_a_redirect_is_its_answer(
        daemon_factory: Any, oai: OpenAIServer, hook: Receiver) -> None:
    # The daemon has HTTP_PROXY set, and the model call does go through it (so the
    # variable was read); the webhook is posted to its target as written, and a 307
    # from it is the receiver's answer, not an invitation to post elsewhere.
    elsewhere = Receiver().start()
    proxy = ForwardProxy().start()
    try:
        hook.headers_out = {"location": elsewhere.url + "/moved"}
        hook.script(307)
        oai.script([reply("Proxied model, direct hook.")])
        env = {"HTTP_PROXY": proxy.url, "http_proxy": "", "NO_PROXY": "", "no_proxy": ""}
        d = daemon_factory(config=delivery_config(oai), env=env).start()
        with d.client() as api:
            task = make_task(api, [{"type": "webhook", "value": hook.url + "/in"}])
            run = run_and_wait_delivery(api, task["id"])
    finally:
        proxy.stop()
        elsewhere.stop()
    assert run["output"] == "Proxied model, direct hook."
    assert [(s.method, s.target) for s in proxy.seen] == [
        ("POST", f"{oai.base_url}/chat/completions")]
    [sent] = hook.requests  # direct, once
    assert sent.path == "/in" and sent.json()["data"]["run"]["id"] == run["id"]
    assert elsewhere.requests == []  # the redirect was not followed
    assert run["deliveryStatus"] == "failed"
    [item] = run["deliveries"]
    assert item["attempts"] == 1 and item["lastCode"] == "307"
    assert "refused it with HTTP 307" in item["lastError"]
