"""`promptly sources import`: the plan (pure) and the command against the real daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from promptlyd.cli import cli
from promptlyd.sources.importer import SourceImportError, expand, plan_import

CLAUDE_DESKTOP = {"mcpServers": {
    "time": {"command": "uvx", "args": ["mcp-server-time", "--local-timezone=${TZ_NAME:-UTC}"]},
    "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
               "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_literal123", "LOG": "${LOG_DIR}"}},
}}
CLAUDE_CODE = {"mcpServers": {
    "remote": {"type": "http", "url": "${API_BASE:-https://mcp.example.com}/mcp",
               "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"}},
    "keyed": {"type": "http", "url": "https://k.example.com/mcp",
              "headers": {"X-API-Key": "literal-key-999"}},
}}


def test_expand_like_claude_code() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand("${A}-${B:-two}-${EMPTY:-d}", env, "x") == "1-two-d"
    assert expand("$A stays", env, "x") == "$A stays"
    with pytest.raises(SourceImportError, match=r"mcpServers.s.url: .*MISSING is not set"):
        expand("${MISSING}", env, "mcpServers.s.url")


def test_plan_claude_desktop() -> None:
    time_plan, gh = plan_import(CLAUDE_DESKTOP, {"LOG_DIR": "/tmp/logs"})
    assert time_plan.body == {"name": "time", "slug": "time", "type": "mcp", "config": {
        "transport": "stdio", "command": "uvx",
        "args": ["mcp-server-time", "--local-timezone=UTC"]}}
    assert time_plan.secrets == {}
    env = gh.body["config"]["env"]
    assert env["LOG"] == "/tmp/logs"
    assert env["GITHUB_PERSONAL_ACCESS_TOKEN"] == {
        "secretName": "mcp-github-github-personal-access-token"}
    assert gh.secrets == {"mcp-github-github-personal-access-token": "ghp_literal123"}
    assert "ghp_literal123" not in json.dumps(gh.body)


def test_plan_claude_code_headers_become_secrets() -> None:
    remote, keyed = plan_import(CLAUDE_CODE, {"REMOTE_TOKEN": "rt-abc"}, taken={"keyed"})
    assert remote.body["config"] == {"transport": "http", "url": "https://mcp.example.com/mcp"}
    assert remote.body["authType"] == "bearer"
    assert remote.secrets == {"mcp-remote-token": "rt-abc"}
    assert keyed.body["slug"] == "keyed-2"  # "keyed" is taken
    assert keyed.body["authType"] == "header"
    assert keyed.body["authConfig"] == {"headerName": "X-API-Key",
                                        "secretName": "mcp-keyed-2-token"}
    assert "literal-key-999" not in json.dumps(keyed.body)


@pytest.mark.parametrize("doc, match", [
    ({}, "no \"mcpServers\""),
    ({"mcpServers": {"s": {"type": "sse", "url": "http://x"}}}, "type 'sse' is not supported"),
    ({"mcpServers": {"s": {"command": 3}}}, "command must be a string"),
    ({"mcpServers": {"s": {"url": "http://x", "headers": {"A": "1", "B": "2"}}}},
     "one credential header"),
    ({"mcpServers": {"s": {"url": "${NOPE}"}}}, "NOPE is not set"),
])
def test_plan_errors(doc: dict[str, Any], match: str) -> None:
    with pytest.raises(SourceImportError, match=match):
        plan_import(doc, {})


def promptly(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_import_command(api: httpx.Client, tmp_path: Path, isolated_home: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_TOKEN", "rt-canary-555")
    file = tmp_path / ".mcp.json"
    file.write_text(json.dumps({"mcpServers": {**CLAUDE_CODE["mcpServers"],
                                               **CLAUDE_DESKTOP["mcpServers"]}}))
    monkeypatch.setenv("LOG_DIR", "/tmp/l")
    dry = promptly("sources", "import", str(file), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would create 'remote' (http): https://mcp.example.com/mcp" in dry.output
    assert "store secret mcp-remote-token" in dry.output and "rt-canary-555" not in dry.output
    assert api.get("/api/promptly/sources").json() == []  # a dry run changes nothing

    done = promptly("sources", "import", str(file))
    assert done.exit_code == 0, done.output
    sources = {s["name"]: s for s in api.get("/api/promptly/sources").json()}
    assert set(sources) == {"remote", "keyed", "time", "github"}
    assert sources["remote"]["authConfig"] == {"secretName": "mcp-remote-token"}
    assert "rt-canary-555" not in json.dumps(sources)
    listed = promptly("secrets", "list")
    assert "mcp-remote-token" in listed.output and "mcp-keyed-token" in listed.output

    monkeypatch.delenv("LOG_DIR")
    bad = promptly("sources", "import", str(file), "--dry-run")
    assert bad.exit_code == 1 and "LOG_DIR is not set" in bad.output


def test_tools_add_rm_verbs(api: httpx.Client, tmp_path: Path) -> None:
    added = promptly("sources", "add", "--name", "Notes", "--type", "local",
                     "--path", str(tmp_path))
    assert added.exit_code == 0, added.output
    [source] = api.get("/api/promptly/sources").json()
    before = promptly("sources", "tools", source["id"])
    assert "No tools seen yet" in before.output
    fresh = promptly("sources", "tools", source["id"], "--refresh")
    assert fresh.exit_code == 0, fresh.output
    assert "notes__read_file" in fresh.output and "notes__search_files" in fresh.output
    assert promptly("sources", "rm", source["id"], "--yes").exit_code == 0
    assert api.get("/api/promptly/sources").json() == []
