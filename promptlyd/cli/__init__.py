"""``promptly``: the command-line client of the promptlyd daemon.

Each command group lives in its own module and is listed in ``GROUPS``; adding
one (``secrets``, ``service``, ``doctor``, …) is one line there. Modules are
imported when the CLI is built, so they import only click at module level and
everything heavier (the client, httpx) inside their commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click

from promptlyd import __version__
from promptlyd.cli.common import EXIT_ERROR, EXIT_NOT_RUNNING, CliError, NotRunningError, State

# (module, attribute) of every top-level command or group, in the order of `--help`.
GROUPS: tuple[tuple[str, str], ...] = (
    ("promptlyd.cli.tasks", "tasks"),
    ("promptlyd.cli.runs", "runs"),
    ("promptlyd.cli.skills", "skills"),
    ("promptlyd.cli.sources", "sources"),
    ("promptlyd.cli.models", "models"),
    ("promptlyd.cli.usage", "stats"),
    ("promptlyd.cli.usage", "billing"),
    ("promptlyd.cli.secrets", "secrets"),
    ("promptlyd.cli.service", "service"),
    ("promptlyd.cli.doctor", "doctor"),
    ("promptlyd.cli.dashboard", "dashboard"),
)

EPILOG = f"""\b
Exit codes:
  0  success
  {EXIT_ERROR}  an error: bad input, an unknown id, a failed run
  {EXIT_NOT_RUNNING}  promptlyd is not running (start it with `promptlyd` or
     `systemctl --user start promptlyd`), or the command line was wrong

\b
The daemon's socket: --socket, else $PROMPTLY_SOCKET, else the config's `socket`,
else $XDG_RUNTIME_DIR/promptly/promptlyd.sock. Ids may be shortened to any
unique prefix, such as the 8 characters the tables show."""


class PromptlyGroup(click.Group):
    """The root group: turns the client's errors into ``Error: …`` and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, click.ClickException | click.exceptions.Exit | click.Abort):
                raise
            # imported only now, so that `--help` does not load the client
            from promptlyd.client.errors import DaemonNotRunning, PromptlyError

            if isinstance(exc, DaemonNotRunning):
                raise NotRunningError(str(exc)) from exc
            if isinstance(exc, PromptlyError):
                raise CliError(str(exc)) from exc
            from promptlyd.errors import PromptlydError

            if isinstance(exc, PromptlydError):  # local work: the key store, the config
                raise CliError(str(exc)) from exc
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # registration order, not alphabetical


@click.group(cls=PromptlyGroup, epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option("--socket", metavar="PATH", is_eager=True, help="The daemon's control socket.")
@click.option("--config", metavar="PATH", is_eager=True, help="Config file (to find the socket).")
@click.option("--json", "json_output", is_flag=True, help="Print raw JSON (for scripts).")
@click.option("--utc", is_flag=True,
              help="Show times in UTC (else a task's times in its zone, others in local time).")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _p, value: _version(ctx, value),
              help="Show promptly's version, and the daemon's when it answers.")
@click.pass_context
def cli(ctx: click.Context, socket: str | None, config: str | None, json_output: bool,
        utc: bool) -> None:
    """Manage the tasks, runs, skills and sources of the local promptlyd daemon."""
    ctx.obj = State(socket=socket, config=config, json=json_output, utc=utc)


def _version(ctx: click.Context, value: bool) -> None:
    """``promptly X`` and, when the daemon answers (briefly asked), ``promptlyd Y``."""
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"promptly {__version__}")
    try:
        from promptlyd.client import Promptly, PromptlyError

        params = {k: v for k, v in ctx.params.items() if k in ("socket", "config")}
        with Promptly(socket_path=params.get("socket"), config_path=params.get("config"),
                      timeout=2.0) as client:
            click.echo(f"promptlyd {client.health().version} (running, {client.socket_path})")
    except PromptlyError as exc:
        click.echo(f"promptlyd: not answering ({str(exc).split(': start it')[0]})")
    ctx.exit(0)


def _register(group: click.Group, entries: Sequence[tuple[str, str]]) -> None:
    for module, attribute in entries:
        command = getattr(importlib.import_module(module), attribute)
        group.add_command(command)


_register(cli, GROUPS)


def main(argv: Sequence[str] | None = None) -> None:
    """The ``promptly`` entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="promptly")
