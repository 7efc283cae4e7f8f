"""The daemon process: persistence across restarts, one per database, socket
permissions, peer credentials, sd_notify, config errors, signals."""

from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.helpers import request_as_nobody
from tests.rows import db_path, insert_run


def _snapshot(api: httpx.Client) -> dict[str, Any]:
    tasks = api.get("/api/promptly/tasks").json()
    return {
        "tasks": tasks,
        "task_each": [api.get(f"/api/promptly/tasks/{t['id']}").json() for t in tasks],
        "skills": api.get("/api/promptly/skills").json(),
        "sources": api.get("/api/promptly/sources").json(),
        "runs": api.get("/api/promptly/runs").json(),
        "stats": api.get("/api/promptly/stats").json(),
        "org": api.get("/api/promptly/health").json()["organizationId"],
    }


def test_everything_survives_a_restart(daemon_factory: Any) -> None:
    d = daemon_factory().start()
    with d.client() as api:
        skill = api.post("/api/promptly/skills", json={
            "name": "Style", "content": "Write plainly.", "category": "writing",
            "frontmatter": {"author": "me", "tags": ["a", "b"], "requiredSources": ["x"]}}).json()
        source = api.post("/api/promptly/sources", json={
            "name": "Time", "type": "mcp", "config": {"command": "uvx", "args": ["x"]},
            "authType": "bearer", "authConfig": {"secretName": "tok"}}).json()
        task = api.post("/api/promptly/tasks", json={
            "name": "n", "prompt": "p", "schedule": "weekly", "scheduleDays": ["tuesday"],
            "timezone": "Asia/Kolkata", "skillIds": [skill["id"]],
            "sourceIds": [source["id"]]}).json()
        api.post("/api/promptly/tasks", json={"name": "paused", "prompt": "p", "isActive": False})
        insert_run(d, task["id"], status="completed", output="out", tokens=42, cost=1.5)
        before = _snapshot(api)
    assert d.stop() == 0
    d2 = daemon_factory().start()
    with d2.client() as api:
        assert _snapshot(api) == before


def test_second_daemon_on_same_database_refuses(daemon: Any, daemon_factory: Any,
                                                tmp_path: Path) -> None:
    # Same database, different socket: the database lock says no.
    other = daemon_factory(env={"PROMPTLY_SOCKET": str(tmp_path / "o.sock")})
    proc = other.spawn()
    code = proc.wait(20)
    assert code == 75
    log = other.log()
    assert "already running" in log and str(daemon.pid) in log
    # the first one still serves
    with daemon.client() as api:
        assert api.get("/api/promptly/health").status_code == 200


def test_second_daemon_on_same_socket_refuses(daemon: Any, daemon_factory: Any,
                                              tmp_path: Path) -> None:
    # Different database, same socket: the live socket says no (and is not stolen).
    cfg = tmp_path / "other.toml"
    cfg.write_text(f'database = "{tmp_path / "other.db"}"\n')
    other = daemon_factory(env={"PROMPTLY_CONFIG": str(cfg)})
    proc = other.spawn()
    assert proc.wait(20) == 75
    assert "already listening" in other.log()
    with daemon.client() as api:
        assert api.get("/api/promptly/health").status_code == 200


def test_socket_is_0600_in_a_0700_folder(daemon: Any) -> None:
    sock = daemon.socket_path
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_path(daemon).stat().st_mode) & 0o077 == 0


def test_stale_socket_is_replaced(daemon_factory: Any) -> None:
    d = daemon_factory()
    d.socket_path.parent.mkdir(mode=0o700, parents=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d.socket_path))
    s.close()  # a socket file nobody listens on, as after a crash
    d.start()
    with d.client() as api:
        assert api.get("/api/promptly/health").json()["status"] == "ok"


@pytest.mark.skipif(os.getuid() != 0 or not hasattr(socket, "SO_PEERCRED"),
                    reason="needs root to connect as another uid, and Linux SO_PEERCRED")
def test_other_uid_is_refused_by_peer_credentials(daemon: Any) -> None:
    # Open the folder and socket up, so only the peer-credential check stands in the way.
    os.chmod(daemon.socket_path.parent.parent, 0o755)
    os.chmod(daemon.socket_path.parent, 0o755)
    os.chmod(daemon.socket_path, 0o666)
    answer = request_as_nobody(
        "socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); "
        f"s.connect({str(daemon.socket_path)!r})",
        b"GET /api/promptly/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "only serves the user" in answer
    assert "refused a connection from uid 65534" in daemon.log()
    with daemon.client() as api:  # our own uid is still served
        assert api.get("/api/promptly/health").status_code == 200


def test_sd_notify_ready(daemon_factory: Any, tmp_path: Path) -> None:
    path = Path(os.environ["XDG_RUNTIME_DIR"]) / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(20)
    try:
        d = daemon_factory(env={"NOTIFY_SOCKET": str(path)}).start()
        message = listener.recv(4096).decode()
        assert "READY=1" in message.splitlines()
        d.stop()
        while "STOPPING=1" not in (message := listener.recv(4096).decode()):
            assert message.startswith("STATUS="), message  # the summary, kept current
    finally:
        listener.close()


@pytest.mark.parametrize(("text", "line", "key"), [
    ("timezone = \"Mars/Olympus\"\n", 1, "timezone"),
    ("organization_name = \"x\"\nmax_concurrent_runs = 0\n", 2, "max_concurrent_runs"),
    ("[providers.ollama]\nbase_url = \"localhost:11434\"\n", 2, "providers.ollama.base_url"),
    ("[smtp]\nport = \"587\"\n", 2, "smtp.port"),
    ("colour = \"blue\"\n", 1, "colour"),
    ("timezone = \n", 1, None),
])
def test_invalid_config_exits_78_naming_file_line_key(
    daemon_factory: Any, config_path: Path, text: str, line: int, key: str | None
) -> None:
    config_path.write_text(text)
    d = daemon_factory()
    proc = d.spawn()
    assert proc.wait(20) == 78
    log = d.log()
    assert f"{config_path}:{line}:" in log
    if key is not None:
        assert key in log
    assert not db_path(d).exists(), "an invalid config must not touch data"
    assert not d.socket_path.exists()


def test_missing_explicit_config_is_an_error(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(env={"PROMPTLY_CONFIG": str(tmp_path / "nope.toml")})
    assert d.spawn().wait(20) == 78
    assert "does not exist" in d.log()


def test_sigterm_exits_zero_and_removes_socket(daemon: Any) -> None:
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(20) == 0
    assert not daemon.socket_path.exists()
    assert "received SIGTERM" in daemon.log()


def test_sighup_reloads_config(daemon_factory: Any, config_path: Path) -> None:
    config_path.write_text('organization_name = "Before"\ntimezone = "UTC"\n')
    d = daemon_factory().start()
    with d.client() as api:
        assert api.get("/api/promptly/health").json()["timezone"] == "UTC"
        config_path.write_text('organization_name = "After"\ntimezone = "Asia/Tokyo"\n')
        d.signal(signal.SIGHUP)
        # wait (bounded) for the reload to be visible
        import time
        deadline = time.monotonic() + 10
        while api.get("/api/promptly/health").json()["timezone"] != "Asia/Tokyo":
            assert time.monotonic() < deadline, d.log()
            time.sleep(0.02)
        # a broken config on SIGHUP is logged and the old one kept
        config_path.write_text("timezone = \"Nowhere/Land\"\n")
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "config not reloaded" not in d.log():
            assert time.monotonic() < deadline, d.log()
            time.sleep(0.02)
        assert api.get("/api/promptly/health").json()["timezone"] == "Asia/Tokyo"
