"""A launchd agent on macOS: ``~/Library/LaunchAgents/com.promptly.promptlyd.plist``."""

from __future__ import annotations

import os
import plistlib
from collections.abc import Mapping
from pathlib import Path

from promptlyd.config import Config
from promptlyd.errors import ServiceError
from promptlyd.service.managers import Outcome, Run, ServiceState, shell
from promptlyd.service.units import LABEL, render_plist, shipped


class LaunchAgent:
    name = "launchd"

    def __init__(self, env: Mapping[str, str], run: Run) -> None:
        self.env = env
        self.run = run
        self.home = Path(env.get("HOME", "~")).expanduser()

    def unit_path(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"

    def log_file(self) -> Path:
        return self.home / "Library" / "Logs" / "promptlyd.log"

    def _domain(self) -> str:
        return f"gui/{os.getuid()}"

    def install(self, config: Config, executable: Path, *, start: bool) -> Outcome:
        path = self.unit_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file().parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_plist(shipped(f"{LABEL}.plist"), executable=executable,
                                      log_file=self.log_file()))
        boot = ["launchctl", "bootstrap", self._domain(), str(path)]
        if not start:
            return Outcome(path, todo=[shell(boot)], note="--no-start: written only")
        self.run(["launchctl", "bootout", f"{self._domain()}/{LABEL}"])  # if loaded: reload
        code, out = self.run(boot)
        if code == 127:
            return Outcome(path, todo=[shell(boot)], note=out)
        if code != 0:
            raise ServiceError(f"`{shell(boot)}` failed: {out}; see {self.log_file()}")
        return Outcome(path, done=[shell(boot)])

    def uninstall(self) -> Outcome:
        path = self.unit_path()
        out = Outcome(path)
        code, _ = self.run(["launchctl", "bootout", f"{self._domain()}/{LABEL}"])
        if code == 0:
            out.done.append(shell(["launchctl", "bootout", f"{self._domain()}/{LABEL}"]))
        try:
            os.unlink(path)
        except FileNotFoundError:
            out.note = f"no agent at {path}: nothing to remove"
        return out

    def state(self) -> ServiceState:
        path = self.unit_path()
        state = ServiceState(self.name, path, installed=path.is_file())
        if state.installed:
            program = plistlib.loads(path.read_bytes()).get("ProgramArguments") or [None]
            state.exec_start = program[0]
        code, _ = self.run(["launchctl", "print", f"{self._domain()}/{LABEL}"])
        state.active = "loaded" if code == 0 else "not loaded"
        return state
