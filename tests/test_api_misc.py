"""Runs, stats, models, billing, health, openapi — and the seeds' curl examples."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.rows import insert_run
from tests.shapes import (
    BILLING_FIELDS,
    MODEL_FIELDS,
    RUN_FIELDS,
    STATS_FIELDS,
    check_fields,
    check_like_seed,
)


def test_runs_endpoints_read_real_rows(api: httpx.Client, daemon: Any) -> None:
    t1 = api.post("/api/promptly/tasks", json={"name": "a", "prompt": "p"}).json()["id"]
    t2 = api.post("/api/promptly/tasks", json={"name": "b", "prompt": "p"}).json()["id"]
    base = datetime(2026, 11, 1, 8, tzinfo=UTC)
    ids = [insert_run(daemon, t1 if i % 2 else t2, created=base + timedelta(minutes=i),
                      status="completed" if i % 3 else "failed", output=f"out {i}",
                      error=None if i % 3 else "model said no", tokens=10 * i, cost=0.5 * i)
           for i in range(7)]
    runs = api.get("/api/promptly/runs").json()
    assert [r["id"] for r in runs] == ids[::-1]  # newest first
    for r in runs:
        check_fields("run", r, RUN_FIELDS)
    assert api.get("/api/promptly/runs", params={"limit": 3}).json() == runs[:3]
    t1_runs = api.get(f"/api/promptly/tasks/{t1}/runs").json()
    assert [r["id"] for r in t1_runs] == [ids[i] for i in (5, 3, 1)]
    assert api.get(f"/api/promptly/tasks/{t1}/runs", params={"limit": 1}).json() == t1_runs[:1]
    one = api.get(f"/api/promptly/runs/{ids[3]}").json()
    assert one == runs[3]
    assert one["output"] == "out 3" and one["tokensUsed"] == 30 and one["costCents"] == 1.5
    assert one["durationMs"] == 1000 and one["taskId"] == t1
    failed = api.get(f"/api/promptly/runs/{ids[0]}").json()
    assert failed["status"] == "failed" and failed["error"] == "model said no"


def test_stats_compute_from_the_store(api: httpx.Client, daemon: Any) -> None:
    assert api.get("/api/promptly/stats").json() == {
        "totalTasks": 0, "activeTasks": 0, "totalRuns": 0, "successfulRuns": 0,
        "failedRuns": 0, "totalTokensUsed": 0, "totalCostCents": 0}
    t = api.post("/api/promptly/tasks", json={"name": "a", "prompt": "p"}).json()["id"]
    api.post("/api/promptly/tasks", json={"name": "b", "prompt": "p", "status": "paused"})
    insert_run(daemon, t, status="completed", tokens=100, cost=2.25)
    insert_run(daemon, t, status="completed", tokens=50, cost=0.75)
    insert_run(daemon, t, status="failed", tokens=5, cost=0)
    insert_run(daemon, t, status="running")
    stats = api.get("/api/promptly/stats").json()
    check_fields("stats", stats, STATS_FIELDS)
    assert stats == {"totalTasks": 2, "activeTasks": 1, "totalRuns": 4, "successfulRuns": 2,
                     "failedRuns": 1, "totalTokensUsed": 155, "totalCostCents": 3.0}


def test_models_catalog_and_lookup(api: httpx.Client) -> None:
    models = api.get("/api/promptly/models").json()
    assert len(models) >= 10
    ids = [m["id"] for m in models]
    assert len(set(ids)) == len(ids)
    for m in models:
        check_fields("model", m, MODEL_FIELDS)
        assert m["provider"] == m["id"].split("/", 1)[0]
    providers = {m["provider"] for m in models}
    assert {"anthropic", "openai", "openrouter", "ollama"} <= providers
    routed = next(m for m in models if m["id"].count("/") >= 2)
    # slashes as they are, and percent-encoded
    assert api.get(f"/api/promptly/models/{routed['id']}").json() == routed
    assert api.get(f"/api/promptly/models/{quote(routed['id'], safe='')}").json() == routed
    assert api.get("/api/promptly/models/gpt-4o-mini").json()["id"] == "openai/gpt-4o-mini"
    r = api.get("/api/promptly/models/openai/gpt-0")
    assert r.status_code == 404 and "openai/gpt-0" in r.json()["error"]["message"]


def test_billing_is_free_and_local(api: httpx.Client, daemon: Any) -> None:
    status = api.get("/api/promptly/billing/status",
                     params={"organizationId": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"}).json()
    check_fields("billing", status, BILLING_FIELDS)
    assert status["plan"] == "free"
    assert status["runsLimit"] is None  # null = unlimited
    assert status["runsUsed"] == 0 and status["usageCostCents"] == 0
    t = api.post("/api/promptly/tasks", json={"name": "a", "prompt": "p"}).json()["id"]
    insert_run(daemon, t, cost=1.25)
    insert_run(daemon, t, cost=2.0, created=datetime(2020, 1, 1, tzinfo=UTC))  # not this month
    status = api.get("/api/promptly/billing/status").json()
    assert status["runsUsed"] == 1 and status["usageCostCents"] == 1.25
    assert status["tasksCount"] == 1
    start = datetime.fromisoformat(status["billingPeriodStart"].replace("Z", "+00:00"))
    assert start <= datetime.now(UTC) < start + timedelta(days=32)
    for path in ("/api/promptly/billing/checkout", "/api/promptly/billing/portal"):
        r = api.post(path, json={"organizationId": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"})
        assert r.status_code == 501
        assert "local mode" in r.json()["error"]["message"]


def test_billing_reports_config_budget(daemon_factory: Any) -> None:
    d = daemon_factory(config="[budget]\nruns_limit = 300\nmonthly_budget_cents = 500\n").start()
    with d.client() as api:
        status = api.get("/api/promptly/billing/status").json()
    assert status["runsLimit"] == 300 and status["monthlyBudgetCents"] == 500


def test_openapi_describes_every_route(api: httpx.Client) -> None:
    from starlette.routing import Route

    from promptlyd.api import events, library, misc, tasks

    doc = api.get("/api/promptly/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    served = {(r.path.replace(":path", ""), m.lower())
              for r in [*tasks.routes, *library.routes, *misc.routes, *events.routes]
              if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD"}
    served.add(("/api/promptly/openapi.json", "get"))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    # every $ref resolves
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in doc["components"]["schemas"], ref


def test_openapi_document_is_valid() -> None:
    from openapi_spec_validator import validate

    from promptlyd.api.openapi import document

    validate(document())  # type: ignore[arg-type]


def test_health(api: httpx.Client, daemon: Any) -> None:
    h = api.get("/api/promptly/health").json()
    assert h["status"] == "ok" and h["pid"] == daemon.pid
    assert h["uptimeSeconds"] >= 0


CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_seed_curl_examples_work_over_the_socket(daemon: Any, api: httpx.Client) -> None:
    """The curl examples of seeds 001/003/004, pointed at the socket instead of 0ct.com."""
    sock = str(daemon.socket_path)

    def curl(*args: str) -> Any:
        out = subprocess.run([CURL, "-sS", "--unix-socket", sock, *args], capture_output=True,
                             text=True, timeout=20, check=True)
        return json.loads(out.stdout)

    # 004: create a source, exactly as written
    source = curl("http://localhost/api/promptly/sources",
                  "-H", "Content-Type: application/json",
                  "-H", "Authorization: Bearer $0CT_API_KEY",
                  "-d", json.dumps({"config": {}, "name": "name",
                                    "organizationId": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
                                    "type": "mcp"}))
    check_like_seed("source", source)
    assert source["name"] == "name" and source["type"] == "mcp" and source["config"] == {}
    # 003: get a skill
    skill = api.post("/api/promptly/skills", json={"name": "name", "content": "content"}).json()
    got = curl(f"http://localhost/api/promptly/skills/{skill['id']}",
               "-H", "Authorization: Bearer $0CT_API_KEY")
    check_like_seed("skill", got)
    assert got == skill
    # 001: list all tasks
    task = api.post("/api/promptly/tasks", json={"name": "name", "prompt": "prompt",
                                                 "skillIds": [skill["id"]],
                                                 "sourceIds": [source["id"]]}).json()
    tasks = curl("http://localhost/api/promptly/tasks", "-H", "Authorization: Bearer $0CT_API_KEY")
    assert tasks == [task]
    check_like_seed("task", tasks[0])


def test_source_test_says_what_an_incomplete_config_lacks(api: httpx.Client) -> None:
    source = api.post("/api/promptly/sources", json={"name": "n", "type": "mcp",
                                                     "config": {}}).json()
    r = api.post(f"/api/promptly/sources/{source['id']}/test")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is False and body["tools"] == []
    assert "config.command" in body["message"]
    api_source = api.post("/api/promptly/sources", json={"name": "a", "type": "api",
                                                         "config": {}}).json()
    msg = api.post(f"/api/promptly/sources/{api_source['id']}/test").json()["message"]
    assert "config.baseUrl" in msg
