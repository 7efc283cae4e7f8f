"""``promptly runs …``: the run history of every task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c
from promptlyd.cli.tasks import runs_table

if TYPE_CHECKING:
    from promptlyd.client import TaskRun

runs = c.group("runs", "Runs: each execution, its output and cost.")


def show_run(run: TaskRun, task_name: str | None) -> None:
    tokens = None
    if run.tokens_used is not None:
        split = ""
        if run.input_tokens is not None and run.output_tokens is not None:
            split = f" ({run.input_tokens} in, {run.output_tokens} out)"
        tokens = f"{run.tokens_used}{split}{' (estimated)' if run.tokens_estimated else ''}"
    c.details([
        ("ID", run.id),
        ("Task", f"{task_name} ({c.short(run.task_id)})" if task_name else run.task_id),
        ("Status", run.status),
        ("Trigger", run.trigger),
        ("Scheduled for", c.when(run.scheduled_for) if run.scheduled_for else None),
        ("Model", run.model),
        ("Started", c.when(run.started_at) if run.started_at else None),
        ("Completed", c.when(run.completed_at) if run.completed_at else None),
        ("Duration", c.duration(run.duration_ms) if run.duration_ms is not None else None),
        ("Tokens", tokens),
        ("Cost", c.cost(run.cost_cents) if run.cost_cents is not None else None),
        ("Delivery", run.delivery_status),
        ("Tool calls", len(run.tool_calls) if run.tool_calls else None),
    ])
    for delivery in run.deliveries or []:
        click.echo(f"  delivery {delivery_line(delivery)}")
    c.block("Error", run.error)
    c.block("Output", run.output)


def delivery_line(delivery: dict[str, Any]) -> str:
    """``webhook https://h/…: pending (2 attempts, next 12:00:05): the webhook answered …``"""
    target = " ".join(str(delivery.get(k, "")) for k in ("type", "target")).strip()
    notes = []
    if delivery.get("attempts"):
        n = delivery["attempts"]
        notes.append(f"{n} attempt{'s' if n != 1 else ''}")
    if delivery.get("nextAttemptAt"):
        notes.append(f"next {c.when(delivery['nextAttemptAt'])}")
    extra = f" ({', '.join(notes)})" if notes else ""
    reason = delivery.get("lastError") or delivery.get("reason")
    return f"{target}: {delivery.get('status', '?')}{extra}{f': {reason}' if reason else ''}"


@runs.command("redeliver")
@click.argument("run_id", metavar="ID")
@c.json_option
def redeliver(run_id: str) -> None:
    """Send a finished run to every destination of its task again."""
    run = c.client().promptly.runs.redeliver(c.resolve("run", run_id))
    if c.state().json:
        c.emit_json(run.to_dict())
        return
    count = len(run.deliveries or [])
    click.echo(f"Queued run {c.short(run.id)} for {count} destination"
               f"{'s' if count != 1 else ''} again; `promptly runs show {c.short(run.id)}` "
               "shows how it goes.")


@runs.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many runs, newest first.")
@click.option("--task", "task_id", metavar="ID", help="Only this task's runs.")
@c.json_option
def list_runs(limit: int, task_id: str | None) -> None:
    """List recent runs of every task, newest first."""
    api = c.client().promptly
    if task_id is not None:
        items = api.tasks.list_runs(c.resolve("task", task_id), limit=limit)
    else:
        items = api.list_runs(limit=limit)
    if c.state().json:
        c.emit_json(c.dumped(items))
        return
    names = {t.id: t.name for t in api.tasks.list()} if items else {}
    runs_table(items, names)


@runs.command("show")
@click.argument("run_id", metavar="ID")
@c.json_option
def show(run_id: str) -> None:
    """Show a run: status, timing, cost, error and output."""
    api = c.client().promptly
    run = api.runs.retrieve(c.resolve("run", run_id))
    if c.state().json:
        c.emit_json(run.to_dict())
        return
    name = None
    if run.task_id:
        from promptlyd.client import NotFoundError

        try:
            name = api.tasks.retrieve(run.task_id).name
        except NotFoundError:
            name = None
    show_run(run, name)
