"""``promptly secrets``: API keys and passwords, kept in the OS keyring (or the 0600 file).

Values never go on the command line (shell history) or to the daemon's API:
``set`` reads the value from a hidden prompt or standard input, ``list`` shows
names and where each comes from, never a value. The daemon looks keys up at
each run, so a change takes effect without a restart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from promptlyd.cli.common import CliError, emit_json, group, state, table

secrets = group("secrets", "API keys and passwords (OS keyring, env vars as fallback).")


def _store() -> Any:
    from promptlyd.config import load_config
    from promptlyd.errors import PromptlydError
    from promptlyd.secrets import open_keystore

    st = state()
    try:
        config = load_config(Path(st.config).expanduser() if st.config else None)
        keys, warning = open_keystore(config.config_dir, config.secrets_backend, os.environ)
    except PromptlydError as exc:
        raise CliError(str(exc)) from exc
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    return keys


@secrets.command("set")
@click.argument("name")
@click.option("--value-from-stdin", "from_stdin", is_flag=True,
              help="Read the value from standard input (for scripts) instead of a prompt.")
@click.option("--generate", is_flag=True,
              help="webhook only: make a new whsec_… signing secret, store it and print it "
                   "once (give it to the receiver).")
def set_secret(name: str, from_stdin: bool, generate: bool) -> None:
    """Store secret NAME (e.g. anthropic, openai, smtp); the value is asked for, hidden."""
    from promptlyd.errors import PromptlydError

    if generate:
        if name != "webhook":
            raise CliError("--generate makes webhook signing secrets only: "
                           "`promptly secrets set webhook --generate`")
        from promptlyd.destinations.signing import generate_secret

        value = generate_secret()
    elif from_stdin or not sys.stdin.isatty():
        value = sys.stdin.read().strip()
    else:
        value = click.prompt(f"Value for {name}", hide_input=True).strip()
    if not value:
        raise CliError("the value is empty; nothing stored")
    keys = _store()
    try:
        keys.set(name, value)
    except PromptlydError as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"Stored {name} ({keys.kind}).", err=True)
    if generate:
        click.echo(value)  # shown this once: the receiver verifies with it


@secrets.command("list")
def list_secrets() -> None:
    """Names of the stored secrets and where each comes from (never the values)."""
    from promptlyd.secrets import env_var_names

    keys = _store()
    names = sorted(keys.names())
    rows = [(n, keys.source_of(n) or "-") for n in names]
    if state().json:
        emit_json([{"name": n, "source": s} for n, s in rows])
        return
    table(("NAME", "SOURCE"), rows,
          empty="No secrets stored. Add one with `promptly secrets set NAME`.")
    shown = set(names)
    from_env = [(n, keys.source_of(n)) for n in ("anthropic", "openai", "openrouter", "smtp")
                if n not in shown and (keys.source_of(n) or "").startswith("env:")]
    for n, source in from_env:
        click.echo(f"{n}: from the environment ({source}); "
                   f"checked: {', '.join(env_var_names(n))}")


@secrets.command("delete")
@click.argument("name")
def delete_secret(name: str) -> None:
    """Remove secret NAME from the store (environment variables are left alone)."""
    if not _store().delete(name):
        raise CliError(f"no secret named {name!r} is stored")
    click.echo(f"Deleted {name}.", err=True)
