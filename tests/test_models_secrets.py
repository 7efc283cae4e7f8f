"""/models discovery and availability; secrets through `promptly secrets`; no leaks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.helpers import serving
from tests.fakes.model_servers import AnthropicServer, OpenAIServer, reply, running
from tests.rows import db_path


@pytest.fixture
def ollama() -> Iterator[OpenAIServer]:
    server = OpenAIServer(models=("llama3.2:latest", "qwen3:8b"))
    yield from running(server)


def test_models_merge_catalog_and_local_servers(daemon_factory: Any,
                                                ollama: OpenAIServer) -> None:
    d = daemon_factory(config=(
        f'[providers.ollama]\nbase_url = "{ollama.base_url}"\n'
        '[providers.llamacpp]\nbase_url = "http://127.0.0.1:9/v1"\n'),
        env={"OPENAI_API_KEY": "sk-openai-test"}).start()
    with d.client() as api:
        models = {m["id"]: m for m in api.get("/api/promptly/models").json()}
    assert models["ollama/llama3.2"]["available"] is True  # catalog entry, served as :latest
    assert models["ollama/llama3.2"]["inputPricePerMillion"] == 0
    qwen = models["ollama/qwen3:8b"]  # discovered: not in the catalog
    assert qwen["available"] is True and qwen["discovered"] is True and qwen["local"] is True
    mistral = models["ollama/mistral"]
    assert mistral["available"] is False
    assert "ollama pull mistral" in mistral["availabilityReason"]
    # a remote provider: available when its key is there, else says how to add it
    assert models["openai/gpt-4o-mini"]["available"] is True
    claude = models["anthropic/claude-sonnet-4-5"]
    assert claude["available"] is False
    assert "promptly secrets set anthropic" in claude["availabilityReason"]
    assert [r.path for r in ollama.requests] == ["/v1/models"]


def test_models_when_the_local_server_is_down(daemon_factory: Any) -> None:
    d = daemon_factory(config='[providers.ollama]\nbase_url = "http://127.0.0.1:9/v1"\n').start()
    with d.client() as api:
        models = {m["id"]: m for m in api.get("/api/promptly/models").json()}
    llama = models["ollama/llama3.2"]
    assert llama["available"] is False and "127.0.0.1:9" in llama["availabilityReason"]
    # a refused connection is reported as such, not waited out until the discovery timeout
    assert "is not reachable" in llama["availabilityReason"]


def promptly(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "promptlyd", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_secrets_cli_round_trip(isolated_home: Path) -> None:
    r = promptly("secrets", "set", "openrouter", stdin="sk-or-123\n")
    assert r.returncode == 0, r.stderr
    assert "Stored openrouter (file)" in r.stderr
    assert "no usable OS keyring" in r.stderr  # the one warning, with the fix
    listed = promptly("secrets", "list")
    assert "openrouter" in listed.stdout and "file" in listed.stdout
    assert "sk-or-123" not in listed.stdout + listed.stderr
    secret_file = isolated_home / ".config" / "promptly" / "secrets.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert promptly("secrets", "delete", "openrouter").returncode == 0
    gone = promptly("secrets", "delete", "openrouter")
    assert gone.returncode == 1 and "no secret named 'openrouter'" in gone.stderr
    assert promptly("secrets", "set", "x", stdin="\n").returncode == 1


def test_a_canary_key_never_leaks(daemon_factory: Any, isolated_home: Path) -> None:
    canary = "sk-ant-CANARY-7f3a9c1e5b"
    assert promptly("secrets", "set", "anthropic", stdin=canary).returncode == 0
    with AnthropicServer(require_key=canary) as anth:
        anth.script([reply("fine", usage=(10, 3))])
        d = daemon_factory(config='log_level = "DEBUG"\n[providers.anthropic]\n'
                                  f'base_url = "{anth.base_url}"\n').start()
        seen: list[str] = []
        with d.client() as api:
            task = api.post("/api/promptly/tasks", json={
                "name": "t", "prompt": "hi", "model": "anthropic/claude-sonnet-4-5"}).json()
            run = api.post(f"/api/promptly/tasks/{task['id']}/run").json()
            deadline = time.monotonic() + 20
            while api.get(f"/api/promptly/runs/{run['id']}").json()["status"] not in (
                    "completed", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            final = api.get(f"/api/promptly/runs/{run['id']}").json()
            assert final["status"] == "completed", final
            for path in ("/api/promptly/tasks", "/api/promptly/runs", "/api/promptly/models",
                         "/api/promptly/stats", "/api/promptly/health",
                         "/api/promptly/billing/status", "/api/promptly/openapi.json",
                         f"/api/promptly/runs/{run['id']}", "/api/promptly/sources",
                         "/api/promptly/skills"):
                seen.append(api.get(path).text)
        assert anth.key_of(anth.completion_requests[0]) == canary  # it was really used
        d.stop()
    leaks = [name for name, text in [("api", "\n".join(seen)), ("log", d.log())]
             if canary in text]
    for f in db_path(d).parent.iterdir():
        if canary.encode() in f.read_bytes():
            leaks.append(str(f))
    assert leaks == []


def test_a_server_answering_html_does_not_break_models(daemon_factory: Any) -> None:
    """A web UI (HTML) where an OpenAI-compatible API was expected: that provider is
    unavailable with a reason; every other provider is still listed."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class WebUI(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Welcome to the web UI</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(HTTPServer(("127.0.0.1", 0), WebUI)) as web:
        with OpenAIServer(models=("llama3.2",)) as good:
            d = daemon_factory(config=(
                f'[providers.lmstudio]\nbase_url = "http://127.0.0.1:{web.server_port}/v1"\n'
                f'[providers.ollama]\nbase_url = "{good.base_url}"\n')).start()
            with d.client() as api:
                r = api.get("/api/promptly/models")
        assert r.status_code == 200, r.text
        models = {m["id"]: m for m in r.json()}
        assert models["ollama/llama3.2"]["available"] is True
