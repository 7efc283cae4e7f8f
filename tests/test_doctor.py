"""``promptly doctor``: a healthy set-up exits 0; each broken part is named, exit 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlite_utils import Database

from promptlyd.cli import cli
from promptlyd.doctor.checks import Doctor, Finding, run_checks
from promptlyd.store.schema import migrations
from tests.fakes.model_servers import OpenAIServer, running


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def healthy(oai: OpenAIServer) -> str:
    return (f'default_model = "fake/fake-small"\nsecrets_backend = "file"\n'
            f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\nlocal = true\n')


def doctor(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args], catch_exceptions=False)


def findings(result: Result) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return body


def test_a_healthy_set_up_exits_0(daemon_factory: Any, oai: OpenAIServer,
                                  isolated_home: Path) -> None:
    d = daemon_factory(config=healthy(oai)).start()
    with d.client() as api:
        api.post("/api/promptly/skills", json={"name": "Fine", "content": "Be brief."})
        api.post("/api/promptly/tasks", json={"name": "T", "prompt": "p",
                                              "model": "fake/fake-small"})
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "All is well." in result.stdout
    got = findings(doctor("--json"))
    statuses = {f["check"]: f["status"] for f in got if f["status"] != "warn"}
    assert statuses["config"] == statuses["database"] == statuses["daemon"] == "ok"
    assert statuses["providers"] == statuses["skills"] == statuses["default model"] == "ok"
    newest = migrations.pending(Database(memory=True))[-1].name  # what a new database gets
    assert any(f"integrity ok, schema {newest}" in f["message"] for f in got)
    assert not [f for f in got if f["status"] == "problem"]


def test_a_broken_set_up_names_each_problem_and_exits_1(daemon_factory: Any,
                                                        isolated_home: Path,
                                                        config_path: Path) -> None:
    d = daemon_factory().start()  # default model anthropic/…, and no key for it
    skills = isolated_home / ".config" / "promptly" / "skills"
    (skills / "broken.md").write_text("---\nname: [unclosed\n---\nBody\n")
    d.stop()
    db = isolated_home / ".local" / "share" / "promptly" / "promptly.db"
    db.write_bytes(b"this is not a database at all" * 100)
    for wal in db.parent.glob("promptly.db-*"):
        wal.unlink()
    result = doctor("--json")
    assert result.exit_code == 1
    problems = {f["check"]: f for f in findings(result) if f["status"] == "problem"}
    assert "cannot read" in problems["database"]["message"]
    assert "no API key for anthropic" in problems["providers"]["message"]
    assert "promptly secrets set anthropic" in problems["providers"]["message"]
    assert "broken.md" in problems["skills"]["message"]
    assert "is not running" in problems["daemon"]["message"]
    assert problems["daemon"]["fix"].startswith("start it")
    human = doctor()
    assert human.exit_code == 1 and "FIX   providers: anthropic" in human.stdout
    assert "problems to fix." in human.stdout

    config_path.write_text('organization_name = "x"\nmax_concurrent_runs = 0\n')
    bad = doctor("--json")
    assert bad.exit_code == 1
    [config] = [f for f in findings(bad) if f["check"] == "config"]
    assert config["status"] == "problem"
    assert f"{config_path}:2: max_concurrent_runs" in config["message"]
    assert {f["status"] for f in findings(bad) if f["check"] == "database"} == {"skipped"}


def test_smtp_that_does_not_answer_and_a_failing_source(daemon_factory: Any,
                                                        oai: OpenAIServer) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon_factory(config=healthy(oai) + f'[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                       'security = "none"\n').start()
    with d.client() as api:
        api.post("/api/promptly/sources", json={
            "name": "Gone", "type": "mcp",
            "config": {"transport": "stdio", "command": "/nonexistent/server"}})
    result = doctor("--json")
    assert result.exit_code == 1
    problems = {f["check"]: f["message"] for f in findings(result) if f["status"] == "problem"}
    assert f"127.0.0.1:{port} does not answer" in problems["smtp"]
    assert problems["sources"].startswith("Gone: ")


def test_a_check_that_breaks_is_a_finding() -> None:
    def broken_check(d: Doctor) -> list[Finding]:
        raise RuntimeError("boom")

    d = Doctor(config_path=None, socket_path=None, env={})
    [finding] = run_checks(d, [broken_check])
    assert finding.status == "problem" and "RuntimeError: boom" in finding.message
