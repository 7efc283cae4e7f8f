"""MCP sources through the real daemon: real third-party servers from PyPI
(``mcp-server-time``, ``mcp-server-git``) over stdio, the tests' own server over
stdio, streamable HTTP and websocket, and a loopback OpenAI-wire model that asks
for the tools."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.daemon_proc import DaemonProcess, wait_for
from tests.fakes.model_servers import OpenAIServer, reply, running, tool_call

FAKE_MCP = str(Path(__file__).resolve().parent / "fakes" / "mcp_servers.py")
BIN = Path(sys.executable).parent
TOKEN = "canary-7f3a9c1e5b2d4k8m"  # a source credential that must never leak


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def config_for(oai: OpenAIServer, extra: str = "") -> str:
    return ("run_timeout_seconds = 30\nsource_connect_timeout_seconds = 15\n"
            "tool_timeout_seconds = 10\nsecrets_backend = \"file\"\n" + extra +
            f'[providers.fake]\nkind = "openai"\nbase_url = "{oai.base_url}"\nlocal = true\n'
            "max_retries = 0\n")


def add_source(api: httpx.Client, name: str, config: dict[str, Any],
               **fields: Any) -> dict[str, Any]:
    r = api.post("/api/promptly/sources", json={"name": name, "type": "mcp",
                                                "config": config, **fields})
    assert r.status_code == 201, r.text
    source: dict[str, Any] = r.json()
    return source


def run_task(api: httpx.Client, source_ids: list[str], prompt: str = "What time is it?",
             timeout: float = 90.0) -> dict[str, Any]:
    task = api.post("/api/promptly/tasks", json={
        "name": f"t{time.monotonic_ns()}", "model": "fake/m", "schedule": "daily",
        "prompt": prompt, "sourceIds": source_ids}).json()
    started = api.post(f"/api/promptly/tasks/{task['id']}/run")
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = api.get(f"/api/promptly/runs/{started.json()['id']}").json()
        if run["status"] in ("completed", "failed"):
            return run
        assert time.monotonic() < deadline, f"run still {run['status']}"
        time.sleep(0.05)


def children_of(pid: int) -> list[str]:
    """Command lines of the live descendants of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                frontier.append(child)
                with contextlib.suppress(OSError):
                    found.append(Path(f"/proc/{child}/cmdline").read_bytes()
                                 .replace(b"\0", b" ").decode())
    return found


def no_children_left(daemon: DaemonProcess) -> None:
    wait_for(lambda: not children_of(daemon.pid), 30, "child processes outlived their run")


def set_secret(name: str, value: str) -> None:
    from promptlyd.cli import cli

    result = CliRunner().invoke(cli, ["secrets", "set", name], input=value + "\n",
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


# --- real third-party servers ------------------------------------------------------------


def test_mcp_server_time_test_and_run(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        source = add_source(api, "Time", {"command": sys.executable,
                                          "args": ["-m", "mcp_server_time",
                                                   "--local-timezone", "UTC"]})
        tested = api.post(f"/api/promptly/sources/{source['id']}/test")
        assert tested.status_code == 200
        body = tested.json()
        assert body["success"] is True, body
        names = {t["name"] for t in body["tools"]}
        assert {"get_current_time", "convert_time"} <= names
        assert all("inputSchema" in t and "description" in t for t in body["tools"])
        shown = api.get(f"/api/promptly/sources/{source['id']}").json()
        assert shown["isActive"] is True and shown["lastConnectedAt"]
        assert {t["name"] for t in shown["tools"]} == names
        no_children_left(d)

        oai.script([tool_call("time__get_current_time", {"timezone": "Europe/Paris"}),
                    reply("It is late in Paris.")])
        run = run_task(api, [source["id"]])
        assert run["status"] == "completed", run
        assert run["output"] == "It is late in Paris."
        offered = [t["function"]["name"] for t in oai.completion_requests[0].body["tools"]]
        assert "time__get_current_time" in offered and "time__convert_time" in offered
        second = oai.completion_requests[1].body["messages"]
        assert second[-1]["role"] == "tool" and "Europe/Paris" in second[-1]["content"]
        [call] = run["toolCalls"]
        assert call["sourceId"] == source["id"] and call["tool"] == "get_current_time"
        assert call["arguments"] == {"timezone": "Europe/Paris"} and call["error"] is None
        assert call["outputChars"] > 0 and call["durationMs"] >= 0
        no_children_left(d)


def test_mcp_server_git_on_a_repository_the_test_makes(daemon_factory: Any, oai: OpenAIServer,
                                                       tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "notes.txt").write_text("hello\n")
    subprocess.run([*git, "add", "notes.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first note"], check=True)
    (repo / "untracked.md").write_text("new\n")
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        source = add_source(api, "Git", {"command": str(BIN / "mcp-server-git"),
                                         "args": ["--repository", str(repo)]})
        body = api.post(f"/api/promptly/sources/{source['id']}/test").json()
        assert body["success"] is True, body
        assert {"git_status", "git_log"} <= {t["name"] for t in body["tools"]}
        oai.script([tool_call("git__git_status", {"repo_path": str(repo)}),
                    reply("One untracked file.")])
        run = run_task(api, [source["id"]], prompt="What changed?")
        assert run["status"] == "completed", run
        result = oai.completion_requests[1].body["messages"][-1]["content"]
        assert "untracked.md" in result
    no_children_left(d)


# --- the tests' own server: failures ---------------------------------------------------------


def test_failures_are_clear_and_the_daemon_survives(daemon_factory: Any,
                                                   oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai).replace("tool_timeout_seconds = 10",
                                                      "tool_timeout_seconds = 2")).start()
    with d.client() as api:
        missing = add_source(api, "Missing", {"command": "no-such-mcp-server-xyz"})
        body = api.post(f"/api/promptly/sources/{missing['id']}/test").json()
        assert body["success"] is False
        assert "command not found" in body["message"] and "no-such-mcp-server-xyz" in \
            body["message"]
        assert api.get(f"/api/promptly/sources/{missing['id']}").json()["isActive"] is False

        exits = add_source(api, "Exits", {"command": sys.executable, "args": [
            "-c", "import sys; print('config file /etc/nothing is unreadable', "
                  "file=sys.stderr); sys.exit(3)"]})
        body = api.post(f"/api/promptly/sources/{exits['id']}/test").json()
        assert body["success"] is False
        assert "exited at start" in body["message"]
        assert "config file /etc/nothing is unreadable" in body["message"]

        # a source that cannot connect at run time fails the run, naming the source
        run = run_task(api, [exits["id"]])
        assert run["status"] == "failed"
        assert "'Exits'" in run["error"] and "exited at start" in run["error"]

        fake = add_source(api, "Fake", {"command": sys.executable, "args": [FAKE_MCP]})
        # hangs on a call: that call fails after tool_timeout_seconds, the run goes on
        oai.script([tool_call("fake__hang", {}), reply("gave up waiting")])
        run = run_task(api, [fake["id"]])
        assert run["status"] == "completed", run
        [call] = run["toolCalls"]
        assert "did not answer within 2 s" in call["error"]
        told = oai.completion_requests[-1].body["messages"][-1]["content"]
        assert told.startswith("error:") and "tool_timeout_seconds" in told
        no_children_left(d)

        # killed mid-run: the call fails clearly, later calls say it is gone
        oai.script([tool_call("fake__die", {}), tool_call("fake__echo", {"text": "hi"}),
                    reply("the server went away")])
        run = run_task(api, [fake["id"]])
        assert run["status"] == "completed", run
        died, after = run["toolCalls"]
        assert "closed the connection during die" in died["error"]
        assert "not connected" in after["error"]
        no_children_left(d)
        assert api.get("/api/promptly/health").status_code == 200
    assert d.proc is not None and d.proc.poll() is None


def test_a_hanging_server_still_ends_the_run_within_its_timeout(daemon_factory: Any,
                                                               oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai).replace(
        "run_timeout_seconds = 30", "run_timeout_seconds = 3")).start()
    with d.client() as api:
        fake = add_source(api, "Fake", {"command": sys.executable, "args": [FAKE_MCP]})
        oai.script([tool_call("fake__hang", {}), reply("never")])
        run = run_task(api, [fake["id"]])
        assert run["status"] == "failed"
        assert "timed out after 3 s" in run["error"]
        assert run["durationMs"] < 20_000  # the run timeout, plus stopping the child
        no_children_left(d)


def test_a_skill_requiring_a_missing_source_fails_the_run(daemon_factory: Any,
                                                         oai: OpenAIServer) -> None:
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        skill = api.post("/api/promptly/skills", json={
            "name": "Git report", "content": "Summarise the repo.",
            "frontmatter": {"requiredSources": ["git"]}})
        assert skill.status_code == 201, skill.text
        task = api.post("/api/promptly/tasks", json={
            "name": "Report", "model": "fake/m", "prompt": "go",
            "skillIds": [skill.json()["id"]]}).json()
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        run = wait_for(lambda: (r := api.get(f"/api/promptly/runs/{run_id}").json())["status"]
                       in ("completed", "failed") and r, 30, "run")
        assert run["status"] == "failed"
        assert "needs source(s) git" in run["error"] and "sourceIds" in run["error"]
        assert oai.completion_requests == []


# --- streamable HTTP and websocket, with a bearer token ------------------------------------


@pytest.fixture(params=["http", "websocket"])
def network_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    mode = request.param
    proc = subprocess.Popen([sys.executable, FAKE_MCP, mode, TOKEN], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("PORT "), line
        port = int(line.split()[1])
        url = f"http://127.0.0.1:{port}/mcp" if mode == "http" else f"ws://127.0.0.1:{port}/"
        yield mode, url
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_network_transports_with_a_bearer_token(daemon_factory: Any, oai: OpenAIServer,
                                                network_server: tuple[str, str],
                                                isolated_home: Path) -> None:
    mode, url = network_server
    set_secret("fake-token", TOKEN)
    set_secret("wrong-token", "not-the-token")
    d = daemon_factory(config=config_for(oai)).start()
    with d.client() as api:
        wrong = add_source(api, "Wrong", {"transport": mode, "url": url}, authType="bearer",
                           authConfig={"secretName": "wrong-token"})
        body = api.post(f"/api/promptly/sources/{wrong['id']}/test").json()
        assert body["success"] is False and "401" in body["message"], body
        assert "rejected our credentials" in body["message"]

        right = add_source(api, "Remote", {"transport": mode, "url": url}, authType="bearer",
                           authConfig={"secretName": "fake-token"})
        body = api.post(f"/api/promptly/sources/{right['id']}/test").json()
        assert body["success"] is True, body
        assert {"echo", "hang", "die", "big"} <= {t["name"] for t in body["tools"]}
        oai.script([tool_call("remote__echo", {"text": "over the wire"}),
                    tool_call("remote__big", {"size": 50_000}), reply("done")])
        run = run_task(api, [right["id"]])
        assert run["status"] == "completed", run
        echo, big = run["toolCalls"]
        assert echo["output"] == "echo: over the wire" and echo["sourceId"] == right["id"]
        assert big["outputChars"] == 50_000 and "[truncated" in big["output"]
        assert oai.completion_requests[1].body["messages"][-1]["content"] == \
            "echo: over the wire"
        responses = [api.get(p).text for p in (
            "/api/promptly/sources", f"/api/promptly/runs/{run['id']}", "/api/promptly/runs",
            f"/api/promptly/sources/{right['id']}")]
        # the canary credential is nowhere but the secret store: database, WAL, logs
        data_dir = isolated_home / ".local" / "share" / "promptly"
        files = [p for p in data_dir.rglob("*") if p.is_file()]
        assert any(p.name.endswith(".db") for p in files)
        for path in files + list(isolated_home.glob("daemon*.log")):
            assert TOKEN.encode() not in path.read_bytes(), path
    d.stop()
    for path in [p for p in data_dir.rglob("*") if p.is_file()] + list(
            isolated_home.glob("daemon*.log")):
        assert TOKEN.encode() not in path.read_bytes(), path
    for text in responses:
        assert TOKEN not in text
    for request in oai.requests:
        assert TOKEN not in request.raw.decode()
