"""Every test runs with its own HOME and XDG folders; none touches the real ones."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import configuration as _hypothesis_configuration
from hypothesis import settings

from tests.daemon_proc import DaemonProcess

# Hypothesis keeps its example database and caches out of the working tree.
_hypothesis_configuration.set_hypothesis_home_dir(tempfile.mkdtemp(prefix="promptly-hypo-"))
settings.register_profile("promptly", database=None, deadline=None)
settings.load_profile("promptly")

ENV_TO_CLEAR = (
    "PROMPTLY_CONFIG", "PROMPTLY_SOCKET", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
    "OPENROUTER_API_KEY", "NOTIFY_SOCKET", "XDG_RUNTIME_DIR",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (long chaos and fuzzing variants)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    # AF_UNIX paths are limited to ~108 bytes: keep the runtime folder short.
    runtime = Path(tempfile.mkdtemp(prefix="pr-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    yield home
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def config_path(isolated_home: Path) -> Path:
    path = isolated_home / ".config" / "promptly" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def daemon_factory(isolated_home: Path) -> Iterator[type[DaemonProcess] | object]:
    started: list[DaemonProcess] = []

    def make(config: str | None = None, env: dict[str, str] | None = None) -> DaemonProcess:
        if config is not None:
            path = isolated_home / ".config" / "promptly" / "config.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(config)
        full_env = {**os.environ, **(env or {})}
        socket_path = Path(os.environ["XDG_RUNTIME_DIR"]) / "promptly" / "promptlyd.sock"
        d = DaemonProcess(full_env, socket_path, isolated_home / f"daemon{len(started)}.log")
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def daemon(daemon_factory: object) -> DaemonProcess:
    return daemon_factory().start()  # type: ignore[operator]


@pytest.fixture
def api(daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with daemon.client() as client:
        yield client


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Any]:
    """A real ``AsyncStore`` on a fresh database in ``tmp_path`` (``store.path``); a
    test file with its own ``store`` fixture overrides this one."""
    from promptlyd.store import AsyncStore

    s = AsyncStore(tmp_path / "store.db")
    s.open()
    yield s
    s.close()
