"""A systemd *user* unit: ``$XDG_CONFIG_HOME/systemd/user/promptlyd.service``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from promptlyd.config import Config, config_home, runtime_dir
from promptlyd.errors import ServiceError
from promptlyd.files import atomic_write
from promptlyd.service.managers import Outcome, Run, ServiceState, shell, writable_folders
from promptlyd.service.units import UNIT_NAME, render_unit, shipped, unit_values

SYSTEMCTL = ("systemctl", "--user")
START = (("daemon-reload",), ("enable", "--now", "promptlyd"))
STOP = (("disable", "--now", "promptlyd"), ("daemon-reload",))


class SystemdUser:
    name = "systemd"

    def __init__(self, env: Mapping[str, str], run: Run) -> None:
        self.env = env
        self.run = run

    def unit_path(self) -> Path:
        return config_home(self.env) / "systemd" / "user" / UNIT_NAME

    def reachable(self) -> tuple[bool, str]:
        """Whether a user manager answers (not in a container without a session bus)."""
        code, out = self.run([*SYSTEMCTL, "show-environment"])
        return code == 0, out.splitlines()[0] if out else f"exit status {code}"

    def render(self, config: Config, executable: Path) -> str:
        folders = writable_folders(config)
        default_runtime = runtime_dir(self.env)
        # the default socket folder is systemd's own %t/promptly (RuntimeDirectory=)
        shown = [Path("%t/promptly") if f == default_runtime else f for f in folders]
        text = render_unit(shipped(UNIT_NAME), executable=executable, writable=shown,
                           grace_seconds=config.shutdown_grace_seconds)
        return text.replace("%%t/promptly", "%t/promptly")

    def install(self, config: Config, executable: Path, *, start: bool) -> Outcome:
        text = self.render(config, executable)
        for folder in writable_folders(config):  # ReadWritePaths= must exist at start
            if folder != runtime_dir(self.env):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.unit_path()
        atomic_write(path, text, mode=0o644)
        commands = [shell([*SYSTEMCTL, *c]) for c in START]
        if not start:
            return Outcome(path, todo=commands, note="--no-start: written only")
        ok, why = self.reachable()
        if not ok:
            return Outcome(path, todo=commands,
                           note=f"no systemd user manager answers here ({why})")
        done = []
        for command in START:
            code, out = self.run([*SYSTEMCTL, *command])
            if code != 0:
                raise ServiceError(f"`{shell([*SYSTEMCTL, *command])}` failed: {out}; see "
                                   "`systemctl --user status promptlyd` and "
                                   "`journalctl --user -u promptlyd`")
            done.append(shell([*SYSTEMCTL, *command]))
        return Outcome(path, done=done)

    def uninstall(self) -> Outcome:
        path = self.unit_path()
        ok, why = self.reachable()
        outcome = Outcome(path)
        if ok:
            code, out = self.run([*SYSTEMCTL, *STOP[0]])
            if code != 0 and path.exists():
                raise ServiceError(f"`{shell([*SYSTEMCTL, *STOP[0]])}` failed: {out}")
            outcome.done.append(shell([*SYSTEMCTL, *STOP[0]]))
        try:
            os.unlink(path)
        except FileNotFoundError:
            outcome.note = f"no unit at {path}: nothing to remove"
        if ok:
            self.run([*SYSTEMCTL, *STOP[1]])
            outcome.done.append(shell([*SYSTEMCTL, *STOP[1]]))
        else:
            outcome.todo = [shell([*SYSTEMCTL, *c]) for c in STOP]
            outcome.note = outcome.note or f"no systemd user manager answers here ({why})"
        return outcome

    def state(self) -> ServiceState:
        path = self.unit_path()
        state = ServiceState(self.name, path, installed=path.is_file())
        if state.installed:
            state.exec_start = unit_values(path.read_text()).get("ExecStart")
        ok, why = self.reachable()
        if not ok:
            state.note = f"no systemd user manager answers here ({why})"
            return state
        for attr, verb in (("active", "is-active"), ("enabled", "is-enabled")):
            _, out = self.run([*SYSTEMCTL, verb, "promptlyd"])
            setattr(state, attr, out.splitlines()[0] if out else None)
        return state
