"""The Python client against the real daemon: the seeds' SDK examples, in Python."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptlyd.client import (
    BadRequestError,
    ClientConfigError,
    ConflictError,
    DaemonNotRunning,
    NotAvailableError,
    NotFoundError,
    Promptly,
    RunWaitTimeout,
    Task,
    TaskRun,
)
from promptlyd.client.types import BillingStatus, Model, Skill, Source, Stats
from tests.daemon_proc import DaemonProcess
from tests.fakes.model_servers import OpenAIServer
from tests.rows import db_path, insert_run

ORG = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"  # the seeds' example organization id


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Promptly]:
    # No arguments: the client finds the daemon's socket as the daemon chose it (XDG).
    with Promptly() as c:
        yield c


def set_run(daemon: DaemonProcess, run_id: str, **columns: Any) -> None:
    conn = sqlite3.connect(db_path(daemon), timeout=10)
    with conn:
        sets = ", ".join(f"{k} = ?" for k in columns)
        conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*columns.values(), run_id])
    conn.close()


# --- seed 000: tasks ---------------------------------------------------------------------


def test_seed_create_retrieve_list_update_delete(client: Promptly, api: httpx.Client) -> None:
    # tasks.create({name: 'x', organizationId: '182bd5e5-…', prompt: 'x'})
    task = client.promptly.tasks.create(name="x", organization_id=ORG, prompt="x")
    assert isinstance(task, Task)
    assert (task.name, task.prompt, task.schedule, task.status) == ("x", "x", "daily", "active")
    assert task.is_active is True and task.next_run_at is not None and task.last_run_at is None
    assert task.skill_ids == [] and task.skills == []
    # the typed object gives back exactly the daemon's JSON
    raw = api.get(f"/api/promptly/tasks/{task.id}").json()
    assert task.to_dict() == raw
    assert client.promptly.tasks.retrieve(task.id) == task
    assert client.promptly.tasks.list(organization_id=ORG) == [task]
    assert client.promptly.tasks.list() == [task]

    updated = client.promptly.tasks.update(
        task.id, name="renamed", cron_expression="0 7 * * 1-5", timezone="Europe/Berlin")
    assert updated.name == "renamed" and updated.cron_expression == "0 7 * * 1-5"
    assert updated.prompt == "x"  # only the passed kwargs were sent
    cleared = client.promptly.tasks.update(task.id, cron_expression=None)  # None clears
    assert cleared.cron_expression is None and cleared.timezone == "Europe/Berlin"

    result = client.promptly.tasks.delete(task.id)
    assert result.success is True
    with pytest.raises(NotFoundError) as info:
        client.promptly.tasks.retrieve(task.id)
    assert info.value.status == 404 and info.value.field == "taskId"
    assert task.id in info.value.message
    assert isinstance(info.value, LookupError)


def test_guide_create_weekly_report(client: Promptly) -> None:
    # seed 002: tasks.create({name: 'Weekly Report', …, modelId, frequency, scheduledDay, …})
    task = client.promptly.tasks.create(
        name="Weekly Report",
        prompt="Generate a summary of this week's key metrics...",
        model_id="anthropic/claude-3-5-sonnet",
        frequency="weekly",
        scheduled_day="monday",
        scheduled_time="09:00",
        is_active=True,
    )
    assert task.model == "anthropic/claude-3-5-sonnet"
    assert task.schedule == "weekly"
    assert task.schedule_days == ["monday"]
    assert task.schedule_time == "09:00"
    assert task.status == "active" and task.is_active is True
    # the guide's update: new prompt, isActive false pauses
    paused = client.promptly.tasks.update(task.id, prompt="Updated instructions...",
                                          is_active=False)
    assert paused.status == "paused" and paused.is_active is False
    assert paused.next_run_at is None and paused.prompt == "Updated instructions..."


def test_guide_schedules_and_attachments(client: Promptly) -> None:
    hourly = client.promptly.tasks.create(name="h", prompt="p", frequency="hourly",
                                          hourly_interval=2)
    assert hourly.schedule == "hourly" and hourly.hourly_interval == 2
    once = client.promptly.tasks.create(name="o", prompt="p", frequency="once",
                                        scheduled_date="2099-02-15", scheduled_time="15:00",
                                        timezone="UTC")
    assert once.scheduled_date == "2099-02-15"
    assert once.next_run_at == "2099-02-15T15:00:00.000Z"
    skill = client.promptly.skills.create(name="style", content="Be brief.")
    source = client.promptly.sources.create(name="notes", type="local",
                                            config={"paths": ["/tmp"]})
    task = client.promptly.tasks.create(
        name="Project Status", prompt="Summarize", model_id="openai/gpt-4o", frequency="daily",
        scheduled_time="09:00", sources=[source.id], skills=[skill.id],
        destinations=["me@example.com", {"type": "webhook", "value": "https://example.com/h",
                                          "label": "hook"}],
    )
    assert task.source_ids == [source.id] and task.skill_ids == [skill.id]
    assert task.sources is not None and task.sources[0].name == "notes"
    assert task.skills is not None and task.skills[0].content == "Be brief."
    assert task.destinations is not None
    assert [(d.type, d.value, d.label) for d in task.destinations] == [
        ("email", "me@example.com", None), ("webhook", "https://example.com/h", "hook")]
    # the guide's update: sources replace the list
    assert client.promptly.tasks.update(task.id, sources=[]).source_ids == []


def test_attach_detach_in_the_seeds_argument_order(client: Promptly) -> None:
    task = client.promptly.tasks.create(name="n", prompt="p")
    skill = client.promptly.skills.create(name="s", content="c")
    source = client.promptly.sources.create(name="src", type="local", config={"paths": ["/tmp"]})
    # tasks.sources.attach(taskId, {sourceId}) / tasks.skills.attach(taskId, {skillId})
    client.promptly.tasks.sources.attach(task.id, source_id=source.id)  # returns nothing
    client.promptly.tasks.skills.attach(task.id, skill_id=skill.id, organization_id=ORG)
    now = client.promptly.tasks.retrieve(task.id)
    assert now.source_ids == [source.id] and now.skill_ids == [skill.id]
    # tasks.sources.detach(sourceId, {taskId}) / tasks.skills.detach(skillId, {taskId})
    client.promptly.tasks.sources.detach(source.id, task_id=task.id)
    client.promptly.tasks.skills.detach(skill.id, task_id=task.id)
    now = client.promptly.tasks.retrieve(task.id)
    assert now.source_ids == [] and now.skill_ids == []
    with pytest.raises(NotFoundError) as info:
        client.promptly.tasks.skills.detach(skill.id, task_id=task.id)
    assert info.value.field == "skillId"
    with pytest.raises(NotFoundError):
        client.promptly.tasks.sources.attach(task.id, source_id=str(uuid.uuid4()))


# --- runs and stats ----------------------------------------------------------------------


def test_list_runs_get_stats_and_run_lookups(client: Promptly, daemon: DaemonProcess,
                                             api: httpx.Client) -> None:
    a = client.promptly.tasks.create(name="a", prompt="p")
    b = client.promptly.tasks.create(name="b", prompt="p", is_active=False)
    ok = insert_run(daemon, a.id, status="completed", output="hello", tokens=15, cost=0.5)
    bad = insert_run(daemon, b.id, status="failed", error="model said no")
    # promptly.listRuns({organizationId}) and the guide's runs.list({organizationId, limit})
    runs = client.promptly.list_runs(organization_id=ORG)
    assert {r.id for r in runs} == {ok, bad}
    assert all(isinstance(r, TaskRun) for r in runs)
    assert [r.to_dict() for r in runs] == api.get("/api/promptly/runs").json()
    assert len(client.promptly.runs.list(organization_id=ORG, limit=1)) == 1
    # tasks.listRuns(taskId, {limit})
    assert [r.id for r in client.promptly.tasks.list_runs(a.id, limit=10)] == [ok]
    # the guide's runs.get(id)
    failed = client.promptly.runs.get(bad)
    assert failed.status == "failed" and failed.error == "model said no" and failed.finished
    done = client.promptly.runs.retrieve(ok)
    assert (done.output, done.tokens_used, done.task_id) == ("hello", 15, a.id)
    # promptly.getStats({organizationId})
    stats = client.promptly.get_stats(organization_id=ORG)
    assert isinstance(stats, Stats)
    assert (stats.total_tasks, stats.active_tasks, stats.total_runs) == (2, 1, 2)
    assert (stats.successful_runs, stats.failed_runs, stats.total_tokens_used) == (1, 1, 15)
    assert stats.to_dict() == api.get("/api/promptly/stats").json()
    with pytest.raises(NotFoundError):
        client.promptly.runs.retrieve(str(uuid.uuid4()))


def test_wait_polls_until_the_run_finishes(client: Promptly, daemon: DaemonProcess) -> None:
    task = client.promptly.tasks.create(name="t", prompt="p")
    run_id = insert_run(daemon, task.id, status="running")
    with pytest.raises(RunWaitTimeout) as info:
        client.promptly.runs.wait(run_id, timeout=0.2)
    assert info.value.run.status == "running" and isinstance(info.value, TimeoutError)

    result: list[TaskRun] = []

    def wait_in_thread() -> None:
        with Promptly() as own:  # one client per thread
            result.append(own.promptly.runs.wait(run_id, timeout=15))

    waiter = threading.Thread(target=wait_in_thread)
    waiter.start()
    set_run(daemon, run_id, status="completed", output="done at last")
    waiter.join(20)
    assert not waiter.is_alive()
    assert result and result[0].status == "completed" and result[0].output == "done at last"
    # a run object works as well as its id; failed runs are returned, not raised
    failed = client.promptly.runs.retrieve(insert_run(daemon, task.id, status="failed",
                                                      error="boom"))
    assert client.promptly.runs.wait(failed, timeout=5).error == "boom"


def test_run_now_and_wait(daemon_factory: Any) -> None:
    with OpenAIServer() as server:
        daemon_factory(config=f'[providers.fake]\nkind = "openai"\n'
                              f'base_url = "{server.base_url}"\nlocal = true\n').start()
        with Promptly() as client:
            task = client.promptly.tasks.create(name="echo", prompt="say hi", model="fake/echo")
            run = client.promptly.tasks.run(task.id)
            assert run.status in ("pending", "running") and run.task_id == task.id
            finished = client.promptly.runs.wait(run.id or "", timeout=20)
            assert finished.status == "completed", finished.error
            assert finished.output and "say hi" in finished.output


# --- sources, skills, models, billing ----------------------------------------------------


def test_sources_crud_and_test(client: Promptly, api: httpx.Client) -> None:
    src = client.promptly.sources.create(
        name="Example API", type="api", organization_id=ORG,
        config={"base_url": "https://api.example.com/v1"}, description="d")
    assert isinstance(src, Source)
    assert src.config.base_url == "https://api.example.com/v1" and src.type == "api"
    assert src.to_dict() == api.get(f"/api/promptly/sources/{src.id}").json()
    mcp = client.promptly.sources.create(
        name="time", type="mcp",
        config={"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ_NAME": "UTC"}})
    assert mcp.config.transport == "stdio" and mcp.config.env == {"TZ_NAME": "UTC"}
    assert {s.id for s in client.promptly.sources.list(organization_id=ORG)} == {src.id, mcp.id}
    changed = client.promptly.sources.update(src.id, description="new words")
    assert changed.description == "new words" and changed.config == src.config
    # sources.test(id): an incomplete source reports the failure, never raises
    empty = client.promptly.sources.create(name="empty", type="api", config={})
    result = client.promptly.sources.test(empty.id)
    assert result.success is False and result.message
    client.promptly.sources.delete(src.id)
    with pytest.raises(NotFoundError):
        client.promptly.sources.retrieve(src.id)
    with pytest.raises(BadRequestError) as info:
        client.promptly.sources.create(name="bad", type="api", config={"base_url": "ftp://x"})
    assert info.value.field == "config.baseUrl"


def test_skills_crud(client: Promptly) -> None:
    # skills.create({content, name, organizationId})
    skill = client.promptly.skills.create(
        content="content", name="name", organization_id=ORG, description="why",
        frontmatter={"tags": ["writing"], "required_sources": ["notes"]}, slug="my-skill")
    assert isinstance(skill, Skill)
    assert (skill.content, skill.name, skill.slug, skill.version) == (
        "content", "name", "my-skill", 1)
    assert skill.frontmatter is not None and skill.frontmatter.tags == ["writing"]
    assert skill.frontmatter.required_sources == ["notes"]
    assert client.promptly.skills.retrieve(skill.id) == skill
    assert client.promptly.skills.list(organization_id=ORG) == [skill]
    updated = client.promptly.skills.update(skill.id, content="more content")
    assert updated.content == "more content" and updated.version == 2
    assert updated.name == "name"
    with pytest.raises(ConflictError) as info:
        client.promptly.skills.create(name="again", content="c", slug="my-skill")
    assert info.value.status == 409 and info.value.field == "slug"
    client.promptly.skills.delete(skill.id)
    with pytest.raises(NotFoundError):
        client.promptly.skills.retrieve(skill.id)
    assert client.promptly.skills.list() == []


def test_models_list_and_retrieve_with_slashes(client: Promptly) -> None:
    models = client.promptly.models.list()
    assert all(isinstance(m, Model) for m in models)
    ids = {m.id for m in models}
    assert "openrouter/meta-llama/llama-3.1-8b-instruct" in ids
    model = client.promptly.models.retrieve("openrouter/meta-llama/llama-3.1-8b-instruct")
    assert model.id == "openrouter/meta-llama/llama-3.1-8b-instruct"
    assert model.provider == "openrouter"
    assert model.open_router_id == "meta-llama/llama-3.1-8b-instruct"
    assert model.supports_tool_calling is True and model.context_length
    assert client.promptly.models.retrieve("gpt-4o-mini").id == "openai/gpt-4o-mini"
    with pytest.raises(NotFoundError) as info:
        client.promptly.models.retrieve("nobody/../../tasks")
    assert info.value.field == "modelId"


def test_billing(client: Promptly, api: httpx.Client) -> None:
    status = client.promptly.billing.get_status(organization_id=ORG)
    assert isinstance(status, BillingStatus)
    assert status.plan == "free" and status.runs_limit is None and status.runs_used == 0
    assert status.to_dict() == api.get("/api/promptly/billing/status").json()
    for call in (client.promptly.billing.create_checkout, client.promptly.billing.create_portal):
        with pytest.raises(NotAvailableError) as info:
            call(organization_id=ORG)
        assert info.value.status == 501 and info.value.type == "not_available"
        assert "local mode" in info.value.message


# --- errors and discovery ----------------------------------------------------------------


def test_bad_input_is_a_typed_400_and_changes_nothing(client: Promptly) -> None:
    with pytest.raises(BadRequestError) as info:
        client.promptly.tasks.create(name="n", prompt="p", schedule_time="25:00")
    err = info.value
    assert err.status == 400 and err.field == "scheduleTime" and err.type == "invalid_request"
    assert isinstance(err, ValueError) and "scheduleTime" in str(err)
    with pytest.raises(BadRequestError) as info:
        client.promptly.tasks.create(name="n", prompt="p", schedule_days=["funday"])
    assert info.value.field == "scheduleDays"
    assert client.promptly.tasks.list() == []
    with pytest.raises(NotFoundError):
        client.promptly.tasks.retrieve("not-a-uuid")
    with pytest.raises(ValueError, match="non-empty"):
        client.promptly.tasks.retrieve("")


def test_health(client: Promptly, api: httpx.Client) -> None:
    health = client.health()
    raw = api.get("/api/promptly/health").json()
    assert health.status == "ok" and health.organization_id == raw["organizationId"]
    assert health.pid == raw["pid"]


def test_daemon_not_running(tmp_path: Path) -> None:
    missing = tmp_path / "none.sock"
    with pytest.raises(DaemonNotRunning) as info:
        Promptly(socket_path=missing).promptly.tasks.list()
    message = str(info.value)
    assert message.startswith(f"promptlyd is not running (no socket at {missing})")
    assert "`promptlyd`" in message and "`systemctl --user start promptlyd`" in message
    assert isinstance(info.value, ConnectionError)
    # a socket file nobody listens on (the daemon was killed)
    stale = Path(f"/tmp/pr-stale-{uuid.uuid4().hex[:8]}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(stale))
        with pytest.raises(DaemonNotRunning, match="nothing listening at"):
            Promptly(socket_path=stale).health()
    finally:
        sock.close()
        stale.unlink()


def test_socket_discovery_follows_env_and_config(
    daemon: DaemonProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Promptly().socket_path == daemon.socket_path
    elsewhere = tmp_path / "other.sock"
    config = tmp_path / "config.toml"
    config.write_text(f'socket = "{elsewhere}"\n')
    assert Promptly(config_path=config).socket_path == elsewhere
    with pytest.raises(DaemonNotRunning, match=r"other\.sock"):
        Promptly(config_path=config).health()
    monkeypatch.setenv("PROMPTLY_CONFIG", str(config))
    assert Promptly().socket_path == elsewhere
    monkeypatch.setenv("PROMPTLY_SOCKET", str(daemon.socket_path))  # wins over the file
    with Promptly() as client:
        assert client.health().status == "ok"
    assert Promptly(socket_path=elsewhere).socket_path == elsewhere  # the argument wins
    broken = tmp_path / "broken.toml"
    broken.write_text("timezone = 3\n")
    with pytest.raises(ClientConfigError, match=r"broken\.toml:1"):
        Promptly(config_path=broken)


def test_importing_the_client_does_not_import_httpx() -> None:
    code = ("import sys, promptlyd.client, promptlyd.client.types; "
            "print(sorted(m for m in ('httpx', 'httpcore', 'starlette', 'sqlite_utils') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_unknown_keys_are_kept_in_extra() -> None:
    raw = {"id": "r1", "status": "completed", "futureField": {"a": 1}}
    run = TaskRun.from_dict(raw)
    assert run.extra == {"futureField": {"a": 1}} and run.to_dict() == raw
    task = {"id": "t", "createdAt": "2019-12-27T18:11:19.117Z", "model": "m", "name": "n",
            "prompt": "p", "schedule": "daily", "status": "active", "lastRunAt": None,
            "nextRunAt": None, "skills": [{"id": "s", "content": "c", "name": "n", "x": 1}]}
    parsed = Task.from_dict(task)
    assert parsed.skills is not None and parsed.skills[0].extra == {"x": 1}
    assert parsed.to_dict() == task
