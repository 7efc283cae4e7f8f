"""``promptly runs tail`` and ``promptly runs show --follow`` against the real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from promptlyd.cli import cli
from promptlyd.cli.runs import tail_line
from promptlyd.client import LiveEvent
from tests.daemon_proc import wait_for
from tests.fakes.model_servers import OpenAIServer, reply, running, slow, status


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def _config(oai: OpenAIServer) -> str:
    return oai.provider_toml()


class Lines:
    """A subprocess's stdout lines, read in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> None:
        self._thread.join(10)


def _tail(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from promptlyd.cli import main; main()",
                             "runs", "tail", *args], env=dict(os.environ), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_tail_json_prints_runs_as_they_start_and_end(daemon_factory: Any,
                                                     oai: OpenAIServer) -> None:
    d = daemon_factory(config=_config(oai)).start()
    proc = _tail("--json")
    out = Lines(proc)
    try:
        with d.client() as api:
            wait_for(lambda: api.get("/api/promptly/health").json()["counters"]
                     ["eventSubscribers"] == 1, 20, "tail subscribed")
            task = api.post("/api/promptly/tasks", json={
                "name": "Tailed", "prompt": "hi", "model": "fake/m"}).json()
            oai.script([reply("fine"), status(400, message="no such model")])
            first = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
            wait_for(lambda: len(out.lines) >= 2, 20, "started and completed")
            second = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
            wait_for(lambda: len(out.lines) >= 4, 20, "started and failed")
        objects = [json.loads(line) for line in out.lines]
        assert [(o["type"], o["runId"]) for o in objects] == [
            ("run.started", first), ("run.completed", first),
            ("run.started", second), ("run.failed", second)]
        assert objects[3]["error"] and objects[1]["taskId"] == task["id"]
        assert d.stop() == 0
        assert proc.wait(20) == 2  # the daemon went away: not running
        assert proc.stderr is not None and "promptlyd stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        out.join()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_tail_lines_for_people() -> None:
    base = {"runId": "3f2a9c1d-0000-4000-8000-000000000000",
            "taskId": "4b1e0f2a-0000-4000-8000-000000000000", "at": "2026-12-01T06:30:00.000Z"}
    started = tail_line(LiveEvent("run.started", {**base, "trigger": "schedule"}), "Brief")
    assert "3f2a9c1d  started" in started and "Brief (4b1e0f2a), schedule" in started
    failed = tail_line(LiveEvent("run.failed", {**base, "durationMs": 1500,
                                                "error": "timed out"}), None)
    assert "failed" in failed and failed.endswith("timed out") and "4b1e0f2a" in failed
    assert tail_line(LiveEvent("dropped", {"message": "3 event(s) …"}), None).startswith("!!")


def test_show_follow_waits_for_the_run(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=_config(oai)).start()
    oai.script([slow(60, reply("Followed output.")), status(400, message="bad model")])
    with d.client() as api:
        task = api.post("/api/promptly/tasks", json={
            "name": "Follow", "prompt": "hi", "model": "fake/m"}).json()
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]

    def release_when_asked() -> None:
        wait_for(lambda: oai.completion_requests, 20, "the model was asked")
        # and the CLI is following (on the event stream): released before, the run could
        # finish before the CLI first looks, and it would not wait at all
        with d.client() as api:
            wait_for(lambda: api.get("/api/promptly/health").json()["counters"]
                     ["eventSubscribers"] >= 1 or None, 20, "the CLI following the run")
        oai.release()

    releaser = threading.Thread(target=release_when_asked, daemon=True)
    releaser.start()
    result = CliRunner().invoke(cli, ["runs", "show", run_id[:8], "--follow"],
                                catch_exceptions=False)
    releaser.join(10)
    assert result.exit_code == 0, result.output
    assert "Waiting for run" in result.stderr
    assert "Status:     completed" in result.stdout and "Followed output." in result.stdout

    with d.client() as api:
        bad = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
    failed = CliRunner().invoke(cli, ["runs", "show", bad, "--follow", "--json"],
                                catch_exceptions=False)
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "failed: " in failed.stderr


def test_version_names_both_when_the_daemon_answers(daemon: Any, tmp_path: Any) -> None:
    from promptlyd import __version__

    result = CliRunner().invoke(cli, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"promptly {__version__}", f"promptlyd {__version__} (running, {daemon.socket_path})"]
    gone = CliRunner().invoke(cli, ["--socket", str(tmp_path / "no.sock"), "--version"],
                              catch_exceptions=False)
    assert gone.exit_code == 0
    assert gone.stdout.splitlines()[1].startswith("promptlyd: not answering (")
    daemon_version = subprocess.run([sys.executable, "-m", "promptlyd.daemon", "--version"],
                                    capture_output=True, text=True, timeout=60, check=False)
    assert daemon_version.stdout.strip() == f"promptlyd {__version__}"
