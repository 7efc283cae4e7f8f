"""``promptly doctor``: check the set-up and say what to fix (exit 1 if anything)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from promptlyd.cli import common as c

MARKS = {"ok": "ok  ", "warn": "warn", "problem": "FIX ", "skipped": "skip"}


@click.command("doctor")
@c.json_option
def doctor() -> None:
    """Check config, database, socket, daemon, keys, models, skills, sources, SMTP, service."""
    from promptlyd.doctor.checks import Doctor, run_checks

    st = c.state()
    d = Doctor(config_path=Path(st.config) if st.config else None,
               socket_path=Path(st.socket) if st.socket else None, env=dict(os.environ))
    findings = run_checks(d)
    if st.json:
        c.emit_json({"ok": not d.problems, "findings": [f.to_dict() for f in findings]})
    else:
        for f in findings:
            click.echo(f"{MARKS[f.status]}  {f.check}: {f.message}")
            if f.fix and f.status in ("problem", "warn"):
                click.echo(f"      → {f.fix}")
        count = len(d.problems)
        click.echo("All is well." if not count else
                   f"{count} problem{'s' if count != 1 else ''} to fix.")
    if d.problems:
        raise SystemExit(c.EXIT_ERROR)
