"""The `promptly` CLI against the real daemon (click's runner in-process, or a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from promptlyd.cli import cli, main
from promptlyd.client import Promptly
from tests.daemon_proc import DaemonProcess
from tests.fakes.model_servers import OpenAIServer

HEAVY = ("httpx", "httpcore", "starlette", "uvicorn", "sqlite_utils", "anthropic", "openai",
         "mcp", "promptlyd.client")


def promptly(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> str:
    result = promptly(*args, input=input)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def as_json(*args: str, input: str | None = None) -> Any:
    return json.loads(ok(*args, input=input))


def row_of(table: str, needle: str) -> str:
    rows = [line for line in table.splitlines() if needle in line]
    assert len(rows) == 1, (needle, table)
    return rows[0]


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Promptly]:
    with Promptly() as c:
        yield c


# --- without a daemon --------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["tasks", "--help"], ["tasks", "create", "--help"]])
def test_help_imports_nothing_heavy_and_is_fast(argv: list[str]) -> None:
    # What makes help slow is importing the heavy packages: that is what is asserted here
    # (start-up time itself is measured by tests/bench/cli.py, not bounded in a unit test).
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptlyd", *argv],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: promptly" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "click" in imported  # the parse worked
    heavy = sorted(m for m in imported
                   if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_entry_points() -> None:
    (script,) = entry_points(group="console_scripts", name="promptly")
    assert script.load() is main
    proc = subprocess.run([sys.executable, "-m", "promptlyd", "--version"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("promptly 0.")  # then the daemon


def test_not_running_is_a_clear_message_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "gone.sock"
    proc = subprocess.run(
        [sys.executable, "-m", "promptlyd", "--socket", str(missing), "tasks"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        f"Error: promptlyd is not running (no socket at {missing}): start it with "
        "`promptlyd` or `systemctl --user start promptlyd`")
    # the environment variable is followed too
    env = {**os.environ, "PROMPTLY_SOCKET": str(missing)}
    proc = subprocess.run([sys.executable, "-m", "promptlyd", "stats"], capture_output=True,
                          text=True, timeout=30, env=env)
    assert proc.returncode == 2 and str(missing) in proc.stderr


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def test_every_command_and_option_is_documented() -> None:
    top = ok("--help")
    assert "Exit codes:" in top and "not running" in top
    seen = []
    for name, command in _walk(cli, ("promptly",)):
        seen.append(name)
        assert (command.help or "").strip(), f"`{name}` has no help text"
        assert command.get_short_help_str(80).strip(), name
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert (param.help or "").strip(), f"`{name} {param.opts[0]}` has no help"
        if name.count(" ") == 1:  # every top-level command is listed with its text
            line = row_of(top, f"  {command.name} ")
            assert command.get_short_help_str(45).split()[0] in line
    for expected in ("promptly tasks create", "promptly tasks run", "promptly runs show",
                     "promptly skills update", "promptly sources test", "promptly models show",
                     "promptly stats", "promptly billing status"):
        assert expected in seen


# --- tasks -----------------------------------------------------------------------------


def test_tasks_create_list_show_update_delete(client: Promptly, api: httpx.Client) -> None:
    skill = client.promptly.skills.create(name="Style", content="Be brief.", slug="style")
    source = client.promptly.sources.create(name="notes", type="local",
                                            config={"paths": ["/tmp"]})
    out = ok("tasks", "create", "--name", "Morning brief", "--prompt", "-",
             "--schedule", "weekly", "--days", "mon,fri", "--time", "07:30",
             "--timezone", "Europe/Berlin", "--email", "me@example.com",
             "--webhook", "https://example.com/hook", "--skill", "style",
             "--source", source.id[:6], input="Summarize {{current_date}}\n")
    assert out.startswith("Created task 'Morning brief' (")
    (task,) = client.promptly.tasks.list()
    assert task.prompt == "Summarize {{current_date}}\n"
    assert (task.schedule_days, task.schedule_time, task.timezone) == (
        ["monday", "friday"], "07:30", "Europe/Berlin")
    assert task.skill_ids == [skill.id] and task.source_ids == [source.id]
    assert [(d.type, d.value) for d in task.destinations or []] == [
        ("email", "me@example.com"), ("webhook", "https://example.com/hook")]

    # `promptly tasks` lists (the default verb), in aligned columns with short ids
    listing = ok("tasks")
    header, row = listing.splitlines()[0], row_of(listing, "Morning brief")
    assert row.startswith(task.id[:8] + " ") and task.id not in row
    assert "weekly mon,fri 07:30" in row and "active" in row
    assert header.index("NAME") == row.index("Morning brief")
    assert header.index("STATUS") == row.index("active")
    # --json, before or after the verb: exactly the API's objects
    assert as_json("--json", "tasks") == api.get("/api/promptly/tasks").json()
    assert as_json("tasks", "list", "--json") == api.get("/api/promptly/tasks").json()

    shown = ok("tasks", "show", task.id[:5])
    assert f"ID:            {task.id}" in shown
    assert "Skills:        Style" in shown and "Sources:       notes" in shown
    assert "email me@example.com" in shown and "Summarize {{current_date}}" in shown

    out = ok("tasks", "update", task.id[:4], "--time", "", "--cron", "0 8 * * *",
             "--no-destinations", "--name", "Renamed")
    assert out.startswith("Updated task 'Renamed'")
    after = client.promptly.tasks.retrieve(task.id)
    assert after.cron_expression == "0 8 * * *" and after.schedule_time is None
    assert after.destinations is None and after.prompt == task.prompt  # untouched
    assert "cron 0 8 * * *" in ok("tasks")

    bad = promptly("tasks", "update", task.id[:4], "--time", "25:00")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert bad.stderr.startswith("Error: scheduleTime must be HH:MM")
    assert bad.stderr.rstrip().endswith("(field: scheduleTime)")
    assert client.promptly.tasks.retrieve(task.id) == after  # nothing changed
    assert promptly("tasks", "update", task.id[:4]).exit_code == 2  # nothing to change

    paused = as_json("tasks", "pause", task.id[:8], "--json")
    assert paused["status"] == "paused" and paused["nextRunAt"] is None
    assert "next run: none" in ok("tasks", "pause", task.id[:8])
    assert as_json("--json", "tasks", "resume", task.id[:8])["status"] == "active"

    assert ok("tasks", "detach", task.id[:8], "--skill", "style", "--source", "notes") == (
        f"Detached 1 skill(s) and 1 source(s) from task {task.id[:8]}.\n")
    assert client.promptly.tasks.retrieve(task.id).skill_ids == []
    assert as_json("--json", "tasks", "attach", task.id[:8], "--skill", skill.id) == {
        "success": True}
    assert client.promptly.tasks.retrieve(task.id).skill_ids == [skill.id]
    assert promptly("tasks", "attach", task.id[:8]).exit_code == 2  # nothing to attach

    refused = promptly("tasks", "delete", task.id[:8], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.stderr
    assert client.promptly.tasks.retrieve(task.id).name == "Renamed"
    assert ok("tasks", "delete", task.id[:8], "--yes") == (
        f"Deleted task 'Renamed' ({task.id[:8]}).\n")
    assert client.promptly.tasks.list() == []
    assert "No tasks yet" in ok("tasks", "list")


def test_id_prefixes_unknown_and_ambiguous(client: Promptly) -> None:
    ids = [client.promptly.tasks.create(name=f"t{i}", prompt="p").id for i in range(17)]
    first, count = Counter(i[0] for i in ids).most_common(1)[0]
    assert count >= 2  # 17 ids, 16 hex digits
    result = promptly("tasks", "show", first)
    assert result.exit_code == 1
    assert f"'{first}' is ambiguous: it starts {count} task ids" in result.stderr
    assert "give more of the id" in result.stderr
    unknown = promptly("tasks", "show", "zz")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == (
        "Error: no task with an id starting with 'zz'; list them with `promptly tasks list`")
    # a full id that does not exist is the daemon's 404, said plainly
    missing = promptly("runs", "show", "00000000-0000-4000-8000-000000000000")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no run with id")


def test_run_wait_and_the_run_history(daemon_factory: Any) -> None:
    with OpenAIServer() as server:
        daemon_factory(config=f'[providers.fake]\nkind = "openai"\n'
                              f'base_url = "{server.base_url}"\nlocal = true\n').start()
        tid = as_json("tasks", "create", "--name", "Echo", "--prompt", "say hi",
                      "--model", "fake/echo", "--json")["id"]
        # --wait prints the run's output (the fake server echoes the prompt)
        assert "say hi" in ok("tasks", "run", tid[:8], "--wait")
        started = ok("tasks", "run", tid[:8])
        assert started.startswith("Started run ")
        short = started.split()[2]
        run_id = as_json("runs", "show", short, "--json")["id"]  # the prefix resolves
        assert run_id.startswith(short) and len(run_id) == 36
        with Promptly() as client:
            waited = client.promptly.runs.wait(run_id, timeout=20)
        assert waited.status == "completed"

        listing = ok("runs")
        assert len([line for line in listing.splitlines() if "Echo" in line]) == 2
        assert row_of(listing, run_id[:8]).split()[2] == "completed"
        shown = ok("runs", "show", run_id)
        assert "Status:     completed" in shown and "Task:       Echo" in shown
        assert "Output:\n  " in shown and "say hi" in shown
        runs_json = as_json("--json", "runs", "list", "--limit", "1")
        assert len(runs_json) == 1 and runs_json[0]["taskId"] == tid
        assert len(ok("tasks", "runs", tid[:8], "--limit", "1").splitlines()) == 2
        assert as_json("runs", "show", run_id, "--json")["output"] == waited.output

        # a run that fails: exit 1 with the run's error
        server.script([])
        bad = as_json("tasks", "create", "--name", "Broken", "--prompt", "p",
                      "--model", "anthropic/claude-sonnet-4-5", "--json")["id"]
        failed = promptly("tasks", "run", bad[:8], "--wait")
        assert failed.exit_code == 1
        assert failed.stderr.startswith("Error: run ") and " failed: " in failed.stderr


# --- skills, sources -------------------------------------------------------------------


def test_skills_commands(client: Promptly, tmp_path: Path) -> None:
    out = ok("skills", "create", "--name", "Style", "--content", "Be brief.",
             "--description", "house style", "--slug", "style")
    assert out.startswith("Created skill 'Style' (") and "slug style" in out
    path = tmp_path / "SKILL.md"
    path.write_text("# Tone\nFriendly.\n")
    from_file = as_json("--json", "skills", "create", "--name", "Tone", "--file", str(path))
    assert from_file["content"] == "# Tone\nFriendly.\n"
    piped = as_json("skills", "create", "--name", "Piped", "--content", "-", "--json",
                    input="from stdin")
    assert piped["content"] == "from stdin"
    assert promptly("skills", "create", "--name", "x").exit_code == 2  # no content

    (style,) = [s for s in client.promptly.skills.list() if s.slug == "style"]
    listing = ok("skills")
    assert row_of(listing, "Style").split()[:4] == [style.id[:8], "Style", "style", "1"]
    assert "Be brief." in ok("skills", "show", "style")
    updated = as_json("skills", "update", "style", "--content", "Be briefer.", "--json")
    assert updated["content"] == "Be briefer." and updated["version"] == 2
    assert ok("skills", "delete", "style", "--yes").startswith("Deleted skill 'Style'")
    assert {s.name for s in client.promptly.skills.list()} == {"Tone", "Piped"}


def test_sources_commands(client: Promptly) -> None:
    created = as_json("sources", "create", "--name", "time", "--type", "mcp",
                      "--command", "uvx", "--arg", "mcp-server-time",
                      "--arg", "--local-timezone=UTC", "--env", "A=1", "--json")
    assert created["config"] == {"command": "uvx", "args": ["mcp-server-time",
                                 "--local-timezone=UTC"], "env": {"A": "1"},
                                 "transport": "stdio"}
    ok("sources", "create", "--name", "notes", "--type", "local", "--path", "/tmp")
    listing = ok("sources")
    assert row_of(listing, "notes").split()[2] == "local"
    assert "uvx mcp-server-time --local-timezone=UTC" in row_of(listing, "time")
    shown = ok("sources", "show", "time")
    assert "Command:" in shown and "Env:" in shown and "A" in shown
    # update merges the config: the command stays, the args are replaced
    ok("sources", "update", created["id"][:8], "--arg", "other", "--description", "clock")
    after = client.promptly.sources.retrieve(created["id"])
    assert after.config.command == "uvx" and after.config.args == ["other"]
    assert after.config.env == {"A": "1"} and after.description == "clock"
    assert promptly("sources", "update", "time", "--type", "api").exit_code == 2
    assert promptly("sources", "create", "--name", "e", "--type", "mcp",
                    "--env", "novalue").exit_code == 2
    # an api source without a base URL cannot connect: exit 1 with the reason
    empty = as_json("sources", "create", "--name", "empty", "--type", "api", "--json")
    tested = promptly("sources", "test", empty["id"][:8])
    assert tested.exit_code == 1
    assert tested.stderr.startswith(f"Error: source {empty['id'][:8]} did not connect: ")
    bad = promptly("sources", "create", "--name", "x", "--type", "api",
                   "--base-url", "ftp://nope")
    assert bad.exit_code == 1 and "(field: config.baseUrl)" in bad.stderr
    assert ok("sources", "delete", "notes", "-y").startswith("Deleted source 'notes'")


def test_socket_and_config_options_win(
    daemon: DaemonProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTLY_SOCKET", str(tmp_path / "elsewhere.sock"))
    assert promptly("stats").exit_code == 2
    assert "Runs:" in ok("--socket", str(daemon.socket_path), "stats")
    monkeypatch.delenv("PROMPTLY_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the default now points nowhere
    assert promptly("stats").exit_code == 2
    config = tmp_path / "config.toml"
    config.write_text(f'socket = "{daemon.socket_path}"\n')
    assert "Runs:" in ok("--config", str(config), "stats")


# --- models, stats, billing ------------------------------------------------------------


def test_models_stats_billing(daemon: DaemonProcess, api: httpx.Client) -> None:
    listing = ok("models")
    assert row_of(listing, "openrouter/meta-llama/llama-3.1-8b-instruct ")
    only = ok("models", "list", "--provider", "ollama").splitlines()
    assert len(only) > 1 and all(line.startswith("ollama/") for line in only[1:])
    shown = ok("models", "show", "openrouter/meta-llama/llama-3.1-8b-instruct")
    assert "Provider:       openrouter" in shown and "131,072 tokens" in shown
    assert as_json("--json", "models", "show", "gpt-4o-mini")["id"] == "openai/gpt-4o-mini"
    missing = promptly("models", "show", "nobody/nothing")
    assert missing.exit_code == 1 and "(field: modelId)" in missing.stderr

    assert "Tasks:      0 (0 active)" in ok("stats")
    assert as_json("stats", "--json") == api.get("/api/promptly/stats").json()
    billing = ok("billing")
    assert "Plan:          free" in billing and "0 of unlimited" in billing
    assert as_json("--json", "billing", "status") == api.get(
        "/api/promptly/billing/status").json()


def test_every_command_is_in_the_readme() -> None:
    """README's command table is kept in step with the CLI (sqlite-utils' test_docs idea)."""
    from pathlib import Path

    import click

    from promptlyd.cli import cli

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()

    def walk(cmd: click.Command, path: list[str]) -> list[str]:
        if isinstance(cmd, click.Group):
            out: list[str] = []
            for name in cmd.list_commands(click.Context(cmd)):
                sub = cmd.get_command(click.Context(cmd), name)
                assert sub is not None
                out += walk(sub, [*path, name])
            return out
        return [" ".join(path)]

    missing = [p for p in walk(cli, []) if f"`promptly {p}`" not in readme]
    assert missing == []
    # and the options of `promptly` itself, which come before any command
    root = [o for p in cli.params if isinstance(p, click.Option) for o in p.opts
            if o not in ("--help", "--version")]
    assert {"--socket", "--config", "--json", "--utc"} <= set(root)
    assert [o for o in root if f"`{o}`" not in readme] == []


# --- times: in the task's zone, or local, or UTC — always saying which ----------------------

# A POSIX zone the C library understands without any zone files: UTC+5:30, called "IST".
LOCAL_TZ = "IST-5:30"
LOCAL_OFFSET = timedelta(hours=5, minutes=30)


def cli_in_zone(*args: str) -> str:
    """The real ``promptly`` in its own process, with TZ set so its local zone is known."""
    proc = subprocess.run([sys.executable, "-m", "promptlyd", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "TZ": LOCAL_TZ})
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def field(details: str, label: str) -> str:
    """The value of ``Label:  value`` in a ``show`` command's output."""
    (value,) = [line.split(":", 1)[1].strip() for line in details.splitlines()
                if line.startswith(label + ":")]
    return value


def instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def in_zone(stamp: str, zone: str) -> str:
    return instant(stamp).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def in_local(stamp: str) -> str:
    return (instant(stamp) + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M IST")


def in_utc(stamp: str) -> str:
    return instant(stamp).strftime("%Y-%m-%d %H:%M UTC")


def test_times_say_their_zone(daemon_factory: Any) -> None:
    with OpenAIServer() as server:
        d = daemon_factory(config=f'timezone = "UTC"\n[providers.fake]\nkind = "openai"\n'
                                  f'base_url = "{server.base_url}"\nlocal = true\n').start()
        created = cli_in_zone("tasks", "create", "--name", "Berlin", "--prompt", "hi",
                              "--model", "fake/echo", "--time", "07:30",
                              "--timezone", "Europe/Berlin")
        with d.client() as api:
            (task,) = api.get("/api/promptly/tasks").json()
        berlin = in_zone(task["nextRunAt"], "Europe/Berlin")
        # 07:30 in Berlin, said as such (CET in winter, CEST in summer), not the UTC instant
        assert berlin[11:16] == "07:30" and berlin.endswith((" CET", " CEST"))
        assert created.rstrip().endswith(f"next run: {berlin}.")
        assert berlin in row_of(cli_in_zone("tasks", "list"), "Berlin")
        shown = cli_in_zone("tasks", "show", task["id"][:8])
        assert field(shown, "Next run") == berlin
        assert field(shown, "Created") == in_zone(task["createdAt"], "Europe/Berlin")
        upcoming = cli_in_zone("tasks", "next", task["id"][:8], "-n", "1")
        assert upcoming.splitlines()[1].split(None, 1)[0] == "IN"  # header: IN Europe/Berlin
        assert f"{berlin}  {in_utc(task['nextRunAt'])}" in upcoming
        # --utc, on the group: UTC, marked UTC
        utc_row = row_of(cli_in_zone("--utc", "tasks", "list"), "Berlin")
        assert in_utc(task["nextRunAt"]) in utc_row and berlin not in utc_row
        assert field(cli_in_zone("--utc", "tasks", "show", task["id"][:8]),
                     "Next run") == in_utc(task["nextRunAt"])
        # --json stays the API's raw instants
        assert json.loads(cli_in_zone("--json", "tasks", "list"))[0]["nextRunAt"] == (
            task["nextRunAt"])

        # runs: in this machine's zone (IST here), or UTC with --utc
        cli_in_zone("tasks", "run", task["id"][:8], "--wait")
        with d.client() as api:
            (run,) = api.get("/api/promptly/runs").json()
        assert in_local(run["startedAt"]) in row_of(cli_in_zone("runs", "list"), run["id"][:8])
        assert in_local(run["startedAt"]) in row_of(
            cli_in_zone("tasks", "runs", task["id"][:8]), run["id"][:8])
        shown = cli_in_zone("runs", "show", run["id"][:8])
        assert field(shown, "Started") == in_local(run["startedAt"])
        assert field(shown, "Completed") == in_local(run["completedAt"])
        assert in_utc(run["startedAt"]) in row_of(cli_in_zone("--utc", "runs", "list"),
                                                 run["id"][:8])

        # skills, sources, billing: local too
        with d.client() as api:
            skill = api.post("/api/promptly/skills", json={
                "name": "Style", "content": "Be brief.", "slug": "style"}).json()
            source = api.post("/api/promptly/sources", json={
                "name": "notes", "type": "local", "config": {"paths": ["/tmp"]}}).json()
            billing = api.get("/api/promptly/billing/status").json()
        assert field(cli_in_zone("skills", "show", "style"), "Updated") == in_local(
            skill["updatedAt"])
        assert field(cli_in_zone("sources", "show", "notes"), "Updated") == in_local(
            source["updatedAt"])
        assert field(cli_in_zone("billing"), "Period start") == in_local(
            billing["billingPeriodStart"])
        assert field(cli_in_zone("--utc", "billing"), "Period start") == in_utc(
            billing["billingPeriodStart"])


@pytest.mark.parametrize(("zone", "utc", "expected"), [
    ("Europe/Berlin", False, "2026-12-02 07:30 CET"),
    ("Europe/Berlin", True, "2026-12-02 06:30 UTC"),
    ("America/Sao_Paulo", False, "2026-12-02 03:30 -03"),  # tzdata's name for the zone
    ("Asia/Kolkata", False, "2026-12-02 12:00 IST"),
])
def test_format_instant_names_the_zone(zone: str, utc: bool, expected: str) -> None:
    from promptlyd.cli.common import format_instant

    moment = datetime(2026, 12, 2, 6, 30, tzinfo=ZoneInfo("UTC"))
    assert format_instant(moment, zone, utc=utc) == expected


def test_format_instant_falls_back_to_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from promptlyd.cli.common import format_instant

    monkeypatch.setenv("TZ", LOCAL_TZ)
    time.tzset()
    try:
        moment = datetime(2026, 12, 2, 6, 30, tzinfo=ZoneInfo("UTC"))
        assert format_instant(moment) == "2026-12-02 12:00 IST"
        assert format_instant(moment, "Not/AZone") == "2026-12-02 12:00 IST"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_httpx_does_not_import_its_own_cli() -> None:
    # httpx imports rich and pygments for its CLI when they are installed (~40 ms of
    # every command that talks to the daemon); promptlyd defers that module
    code = ("import sys, promptlyd, httpx; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'pygments')) == [] and 'httpx._main' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert proc.stdout.strip() == "True", proc.stderr


def test_the_deferred_httpx_cli_still_runs() -> None:
    code = "import promptlyd, httpx; httpx.main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "HTTPX" in proc.stdout or "httpx" in proc.stdout
