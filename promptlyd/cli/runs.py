"""``promptly runs …``: the run history of every task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c
from promptlyd.cli.tasks import runs_table

if TYPE_CHECKING:
    from promptlyd.client import LiveEvent, Promptly, TaskRun

TAIL_TYPES = ("run.started", "run.completed", "run.failed")

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
@click.option("--follow", "-f", is_flag=True,
              help="Wait for the run to finish first (exit 1 if it failed).")
@click.option("--timeout", type=float, default=600.0, show_default=True, metavar="SECONDS",
              help="How long --follow waits.")
@c.json_option
def show(run_id: str, follow: bool, timeout: float) -> None:
    """Show a run: status, timing, cost, error and output."""
    from promptlyd.client import RunWaitTimeout

    api = c.client().promptly
    full_id = c.resolve("run", run_id)
    run = api.runs.retrieve(full_id)
    if follow and not run.finished:
        if not c.state().json:
            click.echo(f"Waiting for run {c.short(full_id)} ({run.status})…", err=True)
        try:
            run = api.runs.follow(full_id, timeout=timeout)
        except RunWaitTimeout as exc:
            raise c.CliError(f"run {c.short(full_id)} is still {exc.run.status} after "
                             f"{timeout:g}s") from exc
    if c.state().json:
        c.emit_json(run.to_dict())
    else:
        _show_with_task(api, run)
    if follow and run.status == "failed":
        raise c.CliError(f"run {c.short(full_id)} failed: {run.error or 'no reason given'}")


@runs.command("tail")
@click.option("--task", "task_id", metavar="ID", help="Only this task's runs.")
@c.json_option
def tail(task_id: str | None) -> None:
    """Print runs as they start and end, until interrupted (--json: one object a line)."""
    import json

    client = c.client()
    only = c.resolve("task", task_id) if task_id else None
    names: dict[str, str] = {}
    as_json = c.state().json
    with client.promptly.events.stream(types=TAIL_TYPES) as events:
        if not as_json:
            click.echo("Following runs (Ctrl-C to stop)…", err=True)
        try:
            for event in events:
                if event.type not in TAIL_TYPES and event.type != "dropped":
                    continue
                if only is not None and event.data.get("taskId") not in (None, only):
                    continue
                if as_json:
                    click.echo(json.dumps(event.data, ensure_ascii=False))
                else:
                    click.echo(tail_line(event, _name_of(client, names, event)))
        except KeyboardInterrupt:
            return
    raise c.NotRunningError("promptlyd stopped: the event stream ended")


def _name_of(client: Promptly, names: dict[str, str], event: LiveEvent) -> str | None:
    """The task's name (looked up once per task; None if it is gone)."""
    task_id = event.data.get("taskId")
    if not isinstance(task_id, str):
        return None
    if task_id not in names:
        from promptlyd.client import NotFoundError

        try:
            names[task_id] = client.promptly.tasks.retrieve(task_id).name or ""
        except NotFoundError:
            names[task_id] = ""
    return names[task_id] or None


def tail_line(event: LiveEvent, task_name: str | None) -> str:
    """``07:30:00 +01  3f2a9c1d  started    Morning brief (4b1e0f2a), schedule``"""
    data = event.data
    if event.type == "dropped":
        return f"!! {data.get('message', 'some events were dropped')}"
    stamp = c.when(data.get("at")) if data.get("at") else "-"
    task = data.get("taskId")
    who = f"{task_name} ({c.short(task)})" if task_name else c.short(task)
    verb = event.type.removeprefix("run.")
    parts = [f"{stamp}  {c.short(data.get('runId'))}  {verb:<9}  {who}"]
    if event.type == "run.started" and data.get("trigger"):
        parts.append(str(data["trigger"]))
    if data.get("durationMs") is not None:
        parts.append(c.duration(data["durationMs"]))
    if data.get("tokensUsed") is not None:
        parts.append(f"{data['tokensUsed']} tokens")
    if data.get("costCents"):
        parts.append(c.cost(data["costCents"]))
    if data.get("error"):
        parts.append(str(data["error"]))
    return ", ".join(parts)


def _show_with_task(api: Any, run: TaskRun) -> None:
    name = None
    if run.task_id:
        from promptlyd.client import NotFoundError

        try:
            name = api.tasks.retrieve(run.task_id).name
        except NotFoundError:
            name = None
    show_run(run, name)
