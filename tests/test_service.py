"""``promptly service``: the unit written for this machine (and verified by systemd),
systemctl driven when a user manager answers, the commands printed when none does."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promptlyd.config import load_config
from promptlyd.errors import ServiceError
from promptlyd.service.executable import find_promptlyd
from promptlyd.service.launchd import LaunchAgent
from promptlyd.service.managers import manager_for, writable_folders
from promptlyd.service.units import HARDENING, LABEL, render_plist, shipped, unit_values

BIN = Path(sys.executable).parent
PROMPTLY = BIN / "promptly"
REAL_PROMPTLYD = BIN / "promptlyd"


def _promptly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PROMPTLY), *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60, check=False)


def _unit(isolated_home: Path) -> Path:
    return isolated_home / ".config" / "systemd" / "user" / "promptlyd.service"


@pytest.fixture
def fake_systemctl(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A ``systemctl`` on PATH that logs its arguments (the user manager cannot run in a
    test); ``FAKE_SYSTEMCTL_FAIL`` names a verb it fails."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "systemctl.log"
    script = folder / "systemctl"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {log}
for arg in "$@"; do
  if [ "$arg" = "$FAKE_SYSTEMCTL_FAIL" ]; then
    echo "Failed to connect to bus: no bus" >&2; exit 1
  fi
done
case "$2" in is-active) echo active;; is-enabled) echo enabled;; esac
exit 0
""")
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}, log


def test_install_no_start_writes_a_unit_that_runs_this_promptlyd(isolated_home: Path) -> None:
    result = _promptly("service", "install", "--no-start")
    assert result.returncode == 0, result.stderr
    unit = _unit(isolated_home)
    assert f"Wrote {unit}" in result.stdout
    assert "systemctl --user enable --now promptlyd" in result.stdout  # what is left to do
    values = unit_values(unit.read_text())
    assert Path(values["ExecStart"]).samefile(REAL_PROMPTLYD)
    assert os.path.isabs(values["ExecStart"])
    for key in HARDENING:
        assert key in values, key
    assert values["ProtectSystem"] == "strict" and values["ProtectHome"] == "read-only"
    writable = values["ReadWritePaths"].split()
    config = load_config(None)
    assert str(config.config_dir) in writable and str(config.database.parent) in writable
    assert "%t/promptly" in writable
    for folder in (config.config_dir, config.database.parent):
        assert folder.is_dir()  # ReadWritePaths= folders must exist when it starts
    assert values["Type"] == "notify" and values["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert values["Restart"] == "on-failure"
    assert values["RestartPreventExitStatus"].split() == ["78", "75"]
    assert int(values["TimeoutStopSec"]) > config.shutdown_grace_seconds


def test_the_written_unit_passes_systemd_analyze_verify(isolated_home: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (.ci/system-deps installs Debian's "
                    "systemd; it cannot be had on this machine)")
    assert _promptly("service", "install", "--no-start").returncode == 0
    check = subprocess.run(["systemd-analyze", "verify", str(_unit(isolated_home))],
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "promptlyd.service" not in check.stderr  # no warning about our unit at all


def test_a_long_grace_gets_a_longer_stop_timeout(isolated_home: Path, config_path: Path) -> None:
    config_path.write_text("shutdown_grace_seconds = 100\n")
    assert _promptly("service", "install", "--no-start").returncode == 0
    assert unit_values(_unit(isolated_home).read_text())["TimeoutStopSec"] == "130"


def test_install_and_uninstall_drive_systemctl_when_it_answers(
        isolated_home: Path, fake_systemctl: tuple[dict[str, str], Path]) -> None:
    env, log = fake_systemctl
    result = _promptly("service", "install", env=env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "--user show-environment", "--user daemon-reload", "--user enable --now promptlyd"]
    assert "ran: systemctl --user enable --now promptlyd" in result.stdout
    assert "journalctl --user -u promptlyd" in result.stdout
    log.unlink()
    status = _promptly("service", "status", "--json", env=env)
    assert status.returncode == 2  # installed and enabled, but no daemon answers here
    assert '"active": "active"' in status.stdout and '"installed": true' in status.stdout
    log.unlink()
    result = _promptly("service", "uninstall", env=env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "--user show-environment", "--user disable --now promptlyd", "--user daemon-reload"]
    assert not _unit(isolated_home).exists()


def test_without_a_user_manager_it_writes_and_says_what_to_run(
        isolated_home: Path, fake_systemctl: tuple[dict[str, str], Path]) -> None:
    env, _ = fake_systemctl
    env = {**env, "FAKE_SYSTEMCTL_FAIL": "show-environment"}
    result = _promptly("service", "install", env=env)
    assert result.returncode == 0, result.stderr
    assert "no systemd user manager answers here (Failed to connect to bus" in result.stdout
    assert "  systemctl --user daemon-reload\n  systemctl --user enable --now promptlyd" \
        in result.stdout
    assert _unit(isolated_home).is_file()
    result = _promptly("service", "uninstall", env=env)
    assert result.returncode == 0 and not _unit(isolated_home).exists()
    assert "systemctl --user disable --now promptlyd" in result.stdout


def test_a_refused_enable_is_an_error_that_says_where_to_look(
        isolated_home: Path, fake_systemctl: tuple[dict[str, str], Path]) -> None:
    env, _ = fake_systemctl
    result = _promptly("service", "install", env={**env, "FAKE_SYSTEMCTL_FAIL": "enable"})
    assert result.returncode == 1
    assert "systemctl --user enable --now promptlyd` failed" in result.stderr
    assert "journalctl --user -u promptlyd" in result.stderr


def test_status_shows_version_uptime_and_next_task(daemon: Any, isolated_home: Path) -> None:
    with daemon.client() as api:
        api.post("/api/promptly/tasks", json={"name": "Soon", "prompt": "p", "model": "ollama/x",
                                              "schedule": "daily", "scheduleTime": "07:30"})
    result = _promptly("service", "status")
    assert result.returncode == 0, result.stderr
    assert "not installed" in result.stdout
    assert "answering: promptlyd " in result.stdout and "Uptime:" in result.stdout
    assert "Next task:" in result.stdout and "Soon (" in result.stdout


def test_launchd_agent_is_written_with_this_promptlyd(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: Any) -> tuple[int, str]:
        calls.append(list(argv))
        return 0, ""

    agent = manager_for("darwin", {"HOME": str(tmp_path)}, run)
    assert isinstance(agent, LaunchAgent)
    outcome = agent.install(load_config(None), REAL_PROMPTLYD, start=True)
    data = plistlib.loads(outcome.path.read_bytes())
    assert outcome.path == tmp_path / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    assert data["ProgramArguments"] == [str(REAL_PROMPTLYD)] and data["Label"] == LABEL
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert calls[-1][:2] == ["launchctl", "bootstrap"]
    assert agent.state().exec_start == str(REAL_PROMPTLYD)
    agent.uninstall()
    assert not outcome.path.exists()
    plist = render_plist(shipped(f"{LABEL}.plist"), executable=Path("/x/promptlyd"),
                         log_file=Path("/x/log"))
    assert plistlib.loads(plist)["StandardErrorPath"] == "/x/log"


def test_unknown_platforms_and_missing_executables_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="cannot install a service on plan9"):
        manager_for("plan9", {})
    (tmp_path / "promptly").write_text("")
    fake = tmp_path / "promptlyd"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_promptlyd([str(tmp_path / "promptly")]) == fake  # beside this promptly
    fake.unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ServiceError, match="cannot find the promptlyd program"):
        find_promptlyd([str(tmp_path / "promptly")], python=str(empty / "python"),
                       search_path=False)


def test_nested_folders_are_listed_once(config_path: Path) -> None:
    config = load_config(None)
    folders = writable_folders(config)
    assert config.skills_dir not in folders  # inside the config folder
    assert config.config_dir in folders
