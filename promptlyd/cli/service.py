"""``promptly service install | uninstall | status``: promptlyd under the OS's manager."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c

if TYPE_CHECKING:
    from promptlyd.service.managers import Outcome, ServiceManager

service = c.group("service", "Run promptlyd as a service of systemd (Linux) or launchd (macOS).",
                  default="status")


def _manager() -> ServiceManager:
    from promptlyd.service.managers import manager_for

    return manager_for(sys.platform, os.environ)


def _config() -> Any:
    from pathlib import Path

    from promptlyd.config import load_config
    from promptlyd.errors import ConfigError

    path = c.state().config
    try:
        return load_config(Path(path) if path else None)
    except ConfigError as exc:
        raise c.CliError(f"{exc}; fix it first (`promptly doctor` checks it)") from exc


def _report(outcome: Outcome, what: str) -> None:
    if c.state().json:
        c.emit_json({**asdict(outcome), "path": str(outcome.path)})
        return
    click.echo(f"{what} {outcome.path}")
    for command in outcome.done:
        click.echo(f"  ran: {command}")
    if outcome.todo:
        if outcome.note:
            click.echo(f"{outcome.note}; to finish, run:")
        for command in outcome.todo:
            click.echo(f"  {command}")
    elif outcome.note:
        click.echo(outcome.note)


@service.command("install")
@click.option("--no-start", is_flag=True, help="Write the unit only; start nothing.")
@c.json_option
def install(no_start: bool) -> None:
    """Write the unit (ExecStart: this promptly's promptlyd) and enable and start it."""
    from promptlyd.service.executable import find_promptlyd

    manager = _manager()
    outcome = manager.install(_config(), find_promptlyd(), start=not no_start)
    _report(outcome, "Wrote")
    if not c.state().json and manager.name == "systemd" and outcome.done:
        click.echo("Logs: journalctl --user -u promptlyd -f")


@service.command("uninstall")
@c.json_option
def uninstall() -> None:
    """Stop and disable the service and remove its unit."""
    _report(_manager().uninstall(), "Removed")


@service.command("status")
@c.json_option
def status() -> None:
    """Whether the unit is installed, the daemon answers, its version, uptime, next task."""
    from promptlyd.client import DaemonNotRunning

    state = _manager().state()
    info: dict[str, Any] = {k: (str(v) if k == "path" else v) for k, v in asdict(state).items()}
    answering = False
    try:
        client = c.client()
        health = client.health()
        tasks = client.promptly.tasks.list()
        answering = True
        info.update(answering=True, version=health.version, pid=health.pid,
                    uptimeSeconds=health.uptime_seconds)
        due = sorted((t.next_run_at, t.name or "", t.id) for t in tasks
                     if t.status == "active" and t.next_run_at)
        info["nextTask"] = ({"at": due[0][0], "name": due[0][1], "id": due[0][2]}
                            if due else None)
    except DaemonNotRunning as exc:
        info.update(answering=False, error=str(exc))
    if c.state().json:
        c.emit_json(info)
    else:
        _print_status(info)
    if not answering:
        raise SystemExit(c.EXIT_NOT_RUNNING)


def _print_status(info: dict[str, Any]) -> None:
    installed = (f"installed at {info['path']} (runs {info.get('exec_start')})"
                 if info["installed"] else f"not installed (no {info['path']}); "
                 "`promptly service install` installs it")
    manager = info["manager"]
    if info.get("active") is not None:
        manager += f": {info['active']}"
        if info.get("enabled"):
            manager += f", {info['enabled']}"
    elif info.get("note"):
        manager += f": {info['note']}"
    rows: list[tuple[str, Any]] = [("Unit", installed), ("Manager", manager)]
    if info["answering"]:
        rows += [("Daemon", f"answering: promptlyd {info['version']}, pid {info['pid']}"),
                 ("Uptime", _uptime(info.get("uptimeSeconds")))]
        nxt = info.get("nextTask")
        rows.append(("Next task", f"{nxt['name']} ({c.short(nxt['id'])}) at {c.when(nxt['at'])}"
                     if nxt else "none scheduled"))
    else:
        rows.append(("Daemon", f"not answering: {info.get('error')}"))
    c.details(rows)


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours or days else []
    parts += [f"{minutes} min", f"{secs} s"] if not days else [f"{minutes} min"]
    return " ".join(parts)
