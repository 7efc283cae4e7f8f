"""What a service manager does for promptlyd, and which one this OS has (a registry)."""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from promptlyd.config import Config
from promptlyd.errors import ServiceError

Run = Callable[[Sequence[str]], tuple[int, str]]
COMMAND_TIMEOUT = 60.0

# sys.platform → "module:class" of its manager; adding one is one line and a module.
MANAGERS: dict[str, str] = {
    "linux": "promptlyd.service.systemd:SystemdUser",
    "darwin": "promptlyd.service.launchd:LaunchAgent",
}


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run a manager's tool: (exit status, its output); 127 when it is not installed."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]} did not answer within {COMMAND_TIMEOUT:g} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def shell(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


@dataclass
class Outcome:
    """What an install or uninstall did, and what is left for the user to run."""

    path: Path
    done: list[str] = field(default_factory=list)  # commands run
    todo: list[str] = field(default_factory=list)  # commands to run by hand
    note: str | None = None  # why they were not run


@dataclass
class ServiceState:
    manager: str
    path: Path
    installed: bool
    exec_start: str | None = None  # the program the installed unit runs
    active: str | None = None  # the manager's word ("active", "inactive", …), if reachable
    enabled: str | None = None
    note: str | None = None


class ServiceManager(Protocol):
    name: str

    def unit_path(self) -> Path: ...

    def install(self, config: Config, executable: Path, *, start: bool) -> Outcome: ...

    def uninstall(self) -> Outcome: ...

    def state(self) -> ServiceState: ...


def manager_for(platform: str, env: Mapping[str, str], run: Run = run_command
                ) -> ServiceManager:
    key = next((k for k in MANAGERS if platform.startswith(k)), None)
    if key is None:
        raise ServiceError(f"promptly cannot install a service on {platform} (it knows "
                           f"{', '.join(MANAGERS)}); start `promptlyd` with your own "
                           "service manager instead")
    module, _, name = MANAGERS[key].partition(":")
    cls: Any = getattr(importlib.import_module(module), name)
    manager: ServiceManager = cls(env, run)
    return manager


def writable_folders(config: Config) -> list[Path]:
    """The folders the daemon writes: config (and secrets), data, skills, socket — the
    outermost of nested ones only."""
    folders = [config.config_dir, config.database.parent, config.skills_dir,
               config.socket.parent]
    out: list[Path] = []
    for folder in folders:
        if any(folder == kept or folder.is_relative_to(kept) for kept in out):
            continue
        out = [kept for kept in out if not kept.is_relative_to(folder)]
        out.append(folder)
    return out
