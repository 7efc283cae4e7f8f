"""Running a task end to end: the real daemon, real SDKs, loopback model servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from promptlyd.providers.catalog import Catalog
from tests.fakes.model_servers import (
    AnthropicServer,
    OpenAIServer,
    reply,
    running,
    slow,
    status,
)


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


@pytest.fixture
def anth() -> Iterator[AnthropicServer]:
    yield from running(AnthropicServer())


def config_for(oai: OpenAIServer | None = None, anth: AnthropicServer | None = None,
               extra: str = "") -> str:
    text = 'organization_name = "Acme Home"\ntimezone = "Asia/Kolkata"\n' \
           "run_timeout_seconds = 5\n" + extra
    if oai is not None:
        text += f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\n' \
                "local = true\nmax_retries = 2\n"
    if anth is not None:
        text += f'[providers.anthropic]\nbase_url = "{anth.base_url}"\nmax_retries = 1\n'
    return text


def wait_run(api: httpx.Client, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/api/promptly/runs/{run_id}").json()
        if run["status"] in ("completed", "failed"):
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}"
        time.sleep(0.02)


def test_run_now_composes_skills_and_variables(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    oai.script([reply("Today looks calm.", usage=(120, 30))])
    with d.client() as api:
        s1 = api.post("/api/promptly/skills", json={
            "name": "Style", "content": "Write for {{organization_name}}."}).json()
        s2 = api.post("/api/promptly/skills", json={"name": "Format",
                                                     "content": "Use bullets."}).json()
        task = api.post("/api/promptly/tasks", json={
            "name": "Brief", "model": "fake/llama3.2", "schedule": "daily",
            "prompt": "{{task_name}}: {{frequency}} on {{current_date}} in {{timezone}}. "
                      "Before: [{{last_output}}] {{unknown_var}}",
            "skillIds": [s2["id"], s1["id"]]}).json()
        r = api.post(f"/api/promptly/tasks/{task['id']}/run")
        assert r.status_code == 201, r.text
        assert r.json()["status"] in ("pending", "running")
        run = wait_run(api, r.json()["id"])
        assert run["status"] == "completed", run
        assert run["output"] == "Today looks calm."
        assert run["tokensUsed"] == 150 and run["inputTokens"] == 120
        assert run["costCents"] == 0  # a local provider
        assert run["model"] == "fake/llama3.2" and run["trigger"] == "manual"
        assert run["durationMs"] >= 0 and run["startedAt"] <= run["completedAt"]
        sent = oai.completion_requests[0].body
        assert sent["model"] == "llama3.2"
        today = run["startedAt"]  # Asia/Kolkata may already be tomorrow: compute it
        from datetime import datetime
        from zoneinfo import ZoneInfo
        local = datetime.fromisoformat(today.replace("Z", "+00:00")).astimezone(
            ZoneInfo("Asia/Kolkata")).date().isoformat()
        system = "Use bullets.\n\nWrite for Acme Home."
        user = f"Brief: daily on {local} in Asia/Kolkata. Before: [] {{{{unknown_var}}}}"
        assert sent["messages"] == [{"role": "system", "content": system},
                                    {"role": "user", "content": user}]
        assert run["renderedPrompt"] == f"{system}\n\n{user}"
        after = api.get(f"/api/promptly/tasks/{task['id']}").json()
        assert after["lastRunAt"] == run["startedAt"]
        # {{last_output}} is the previous successful run's output
        oai.script([reply("second")])
        run2 = wait_run(api, api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"])
        assert "Before: [Today looks calm.]" in run2["renderedPrompt"]
        stats = api.get("/api/promptly/stats").json()
        assert stats["totalRuns"] == 2 and stats["successfulRuns"] == 2
        assert stats["totalTokensUsed"] == 150 + 15
        listed = api.get(f"/api/promptly/tasks/{task['id']}/runs").json()
        assert [x["id"] for x in listed] == [run2["id"], run["id"]]


def test_cost_from_catalog_prices(daemon_factory: Any, anth: AnthropicServer) -> None:
    d = daemon_factory(config=config_for(anth=anth),
                       env={"ANTHROPIC_API_KEY": "sk-ant-test-key"}).start()
    anth.script([reply("done", usage=(1_000_000, 200_000))])
    model = "anthropic/claude-sonnet-4-5"
    info = Catalog.load().get(model)
    assert info is not None
    expected = (1_000_000 * info.input_price_per_million
                + 200_000 * info.output_price_per_million) / 1e6 * 100
    with d.client() as api:
        task = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "hi",
                                                     "model": model}).json()
        run = wait_run(api, api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"])
        assert run["status"] == "completed", run
        assert run["costCents"] == pytest.approx(expected)
        assert run["tokensUsed"] == 1_200_000
        assert anth.key_of(anth.completion_requests[0]) == "sk-ant-test-key"
        assert api.get("/api/promptly/stats").json()["totalCostCents"] == pytest.approx(expected)


def test_failures_become_failed_runs_and_the_daemon_keeps_serving(
    daemon_factory: Any, oai: OpenAIServer, anth: AnthropicServer
) -> None:
    d = daemon_factory(config=config_for(oai, anth)).start()
    with d.client() as api:
        t = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "hi",
                                                  "model": "fake/m"}).json()
        # 429 then success: retried
        oai.script([status(429, retry_after=0), reply("after retry")])
        run = wait_run(api, api.post(f"/api/promptly/tasks/{t['id']}/run").json()["id"])
        assert run["status"] == "completed" and run["output"] == "after retry"
        # 500 forever: failed with a clear message after the retries
        oai.script([status(500)] * 3)
        run = wait_run(api, api.post(f"/api/promptly/tasks/{t['id']}/run").json()["id"])
        assert run["status"] == "failed"
        assert "500" in run["error"] and "output" not in run
        # slower than run_timeout_seconds: timed out
        oai.script([slow(30, then=reply("late"))])
        run = wait_run(api, api.post(f"/api/promptly/tasks/{t['id']}/run").json()["id"])
        oai.release()
        assert run["status"] == "failed" and "timed out" in run["error"]
        # no key for a remote provider: says how to fix it
        a = api.post("/api/promptly/tasks", json={"name": "a", "prompt": "hi",
                                                  "model": "anthropic/claude-sonnet-4-5"}).json()
        run = wait_run(api, api.post(f"/api/promptly/tasks/{a['id']}/run").json()["id"])
        assert run["status"] == "failed"
        assert "promptly secrets set anthropic" in run["error"]
        assert "ANTHROPIC_API_KEY" in run["error"]
        assert anth.completion_requests == []
        # still serving
        assert api.get("/api/promptly/health").json()["status"] == "ok"
        assert api.get("/api/promptly/stats").json()["failedRuns"] == 3


def test_a_running_task_cannot_be_run_again(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        t = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "hi",
                                                  "model": "fake/m"}).json()
        oai.script([slow(30, then=reply("ok"))])
        first = api.post(f"/api/promptly/tasks/{t['id']}/run").json()
        oai.wait_for_requests(1)
        r = api.post(f"/api/promptly/tasks/{t['id']}/run")
        assert r.status_code == 409 and first["id"] in r.json()["error"]["message"]
        oai.release()
        assert wait_run(api, first["id"])["status"] == "completed"


def test_sigterm_lets_running_runs_finish(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai, extra="shutdown_grace_seconds = 0.5\n")).start()
    with d.client() as api:
        t = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "hi",
                                                  "model": "fake/m"}).json()
        oai.script([slow(30, then=reply("never"))])
        run = api.post(f"/api/promptly/tasks/{t['id']}/run").json()
        oai.wait_for_requests(1)
    assert d.stop() == 0
    oai.release()
    d2 = daemon_factory(config=config_for(oai)).start()
    with d2.client() as api:
        after = api.get(f"/api/promptly/runs/{run['id']}").json()
    assert after["status"] == "failed" and after["error"] == "interrupted: daemon stopped"


def test_sigterm_waits_for_a_run_within_the_grace_period(daemon_factory: Any,
                                                         oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai, extra="shutdown_grace_seconds = 20\n")).start()
    with d.client() as api:
        t = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "hi",
                                                  "model": "fake/m"}).json()
        oai.script([slow(30, then=reply("finished in time"))])
        run = api.post(f"/api/promptly/tasks/{t['id']}/run").json()
        oai.wait_for_requests(1)
    import signal
    import threading

    d.signal(signal.SIGTERM)
    # the model answers while the daemon drains
    threading.Timer(0.5, oai.release).start()
    assert d.proc is not None and d.proc.wait(30) == 0
    assert "waiting up to 20 s for 1 run(s) to finish" in d.log()
    d2 = daemon_factory(config=config_for(oai)).start()
    with d2.client() as api:
        after = api.get(f"/api/promptly/runs/{run['id']}").json()
    assert after["status"] == "completed" and after["output"] == "finished in time"
