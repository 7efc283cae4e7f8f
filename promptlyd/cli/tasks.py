"""``promptly tasks …``: create, inspect, change, run and delete tasks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import click

from promptlyd.cli import common as c
from promptlyd.runs.states import RunStatus

if TYPE_CHECKING:
    from promptlyd.client import Task, TaskRun

SCHEDULES = ("once", "hourly", "daily", "weekly")

tasks = c.group("tasks", "Tasks: a prompt, a model and a schedule.")


# --- rendering -----------------------------------------------------------------------


def schedule_summary(task: Task) -> str:
    if task.cron_expression:
        return f"cron {task.cron_expression}"
    parts: list[str] = [task.schedule]
    if task.schedule == "hourly":
        parts.append(f"every {task.hourly_interval or 1}h")
    if task.schedule_days:
        parts.append(",".join(d[:3] for d in task.schedule_days))
    if task.scheduled_date:
        parts.append(task.scheduled_date)
    if task.schedule_time:
        parts.append(task.schedule_time)
    return " ".join(parts)


def next_run(task: Task) -> str:
    """When the task runs next, in its own zone (``2026-12-02 07:30 CET``), or "none"."""
    return c.when(task.next_run_at, "none", task.timezone)


def _destinations(task: Task) -> str | None:
    dests = [f"{d.type} {d.value}" for d in task.destinations or []]
    if task.delivery_email and task.delivery_email_address:
        dests.append(f"email {task.delivery_email_address}")
    if task.delivery_sms and task.delivery_phone_number:
        dests.append(f"sms {task.delivery_phone_number}")
    return ", ".join(dests) or None


def show_task(task: Task) -> None:
    c.details([
        ("ID", task.id),
        ("Name", task.name),
        ("Status", task.status),
        ("Schedule", f"{schedule_summary(task)} ({task.timezone})"),
        ("Model", task.model),
        ("Next run", c.when(task.next_run_at, zone=task.timezone)),
        ("Last run", c.when(task.last_run_at, never="never", zone=task.timezone)),
        ("Skills", ", ".join(f"{s.name} ({c.short(s.id)})" for s in task.skills or []) or None),
        ("Sources", ", ".join(f"{s.name} ({c.short(s.id)})" for s in task.sources or []) or None),
        ("Destinations", _destinations(task)),
        ("Created", c.when(task.created_at, zone=task.timezone)),
        ("Updated", c.when(task.updated_at, zone=task.timezone)),
    ])
    c.block("Prompt", task.prompt)


def runs_table(runs: list[TaskRun], names: dict[str, str] | None = None) -> None:
    headers = ["ID", *(["TASK"] if names is not None else []), "STATUS", "STARTED", "DURATION",
               "TOKENS", "COST", "TRIGGER"]
    rows = [
        [c.short(r.id), *([c.clip(names.get(r.task_id or "", c.short(r.task_id)), 30)]
                          if names is not None else []),
         r.status or "-", c.when(r.started_at or r.created_at), c.duration(r.duration_ms),
         str(r.tokens_used if r.tokens_used is not None else "-"), c.cost(r.cost_cents),
         r.trigger or "-"]
        for r in runs
    ]
    c.table(headers, rows, empty="No runs yet.")


# --- options -------------------------------------------------------------------------


def task_options(creating: bool) -> Callable[[c.F], c.F]:
    """The options of ``create`` and ``update`` (on update, ``""`` clears a value)."""
    clear = "" if creating else ' ("" clears it)'
    options = [
        click.option("--name", required=creating, help="Human-readable task name."),
        click.option("--prompt", required=creating,
                     help="The prompt to run ('-' reads it from stdin). Variables such as "
                          "{{current_date}} and {{last_output}} are filled in."),
        click.option("--model", help="provider/model, e.g. openai/gpt-4o-mini or "
                                     "ollama/llama3.2 (default: the config's default_model)."),
        click.option("--schedule", type=click.Choice(SCHEDULES),
                     help="How often it runs (default: daily)."),
        click.option("--time", "schedule_time", metavar="HH:MM",
                     help=f"Time of day, in the task's time zone{clear}."),
        click.option("--days", multiple=True, metavar="DAYS",
                     help=f"Days to run, e.g. mon,fri (repeatable){clear}."),
        click.option("--cron", metavar="EXPR",
                     help=f"A 5-field cron expression; overrides --schedule{clear}."),
        click.option("--timezone", metavar="ZONE", help="IANA zone, e.g. Europe/Berlin."),
        click.option("--interval", metavar="HOURS",
                     help=f"Hours between runs of an hourly task{clear}."),
        click.option("--date", "scheduled_date", metavar="YYYY-MM-DD",
                     help=f"The day of a once task{clear}."),
        click.option("--email", multiple=True, metavar="ADDRESS",
                     help="Email the result here (repeatable)."),
        click.option("--sms", multiple=True, metavar="PHONE",
                     help="Text the result to this number, e.g. +4915112345678 (repeatable)."),
        click.option("--webhook", multiple=True, metavar="URL",
                     help="POST the result to this URL (repeatable)."),
        click.option("--skill", "skill", multiple=True, metavar="ID",
                     help=("Attach this skill (id, prefix or slug; repeatable)." if creating
                           else "The task's skills, in order: replaces the list "
                                "(`tasks attach` adds one).")),
        click.option("--source", "source", multiple=True, metavar="ID",
                     help=("Attach this source (id, prefix or slug; repeatable)." if creating
                           else "The task's sources: replaces the list "
                                "(`tasks attach` adds one).")),
        click.option("--paused/--active", "paused", default=None,
                     help="Create or set the task paused (or active)."),
    ]
    if not creating:
        options.append(click.option("--no-destinations", is_flag=True,
                                    help="Remove every destination."))

    return c.apply_all(options)


def task_fields(opts: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The options given → the client's keyword arguments (only those given)."""
    fields: dict[str, Any] = {}
    for key in ("name", "model", "schedule", "timezone"):
        if opts.get(key) is not None:
            fields[key] = opts[key]
    if opts.get("prompt") is not None:
        fields["prompt"] = c.read_text(opts["prompt"], None, "prompt")
    for option, key in (("schedule_time", "schedule_time"), ("cron", "cron_expression"),
                        ("scheduled_date", "scheduled_date")):
        if opts.get(option) is not None:
            fields[key] = opts[option] or None
    if opts.get("days"):
        days = [d.strip() for text in opts["days"] for d in text.split(",") if d.strip()]
        fields["schedule_days"] = days or None
    if opts.get("interval") is not None:
        text = opts["interval"].strip()
        if text and not text.isdigit():
            raise click.BadParameter(f"expected a whole number of hours, got {text!r}",
                                     param_hint="--interval")
        fields["hourly_interval"] = int(text) if text else None
    dests = ([{"type": "email", "value": v} for v in opts.get("email", ())]
             + [{"type": "sms", "value": v} for v in opts.get("sms", ())]
             + [{"type": "webhook", "value": v} for v in opts.get("webhook", ())])
    if dests:
        fields["destinations"] = dests
    elif opts.get("no_destinations"):
        fields["destinations"] = None
    if opts.get("skill"):
        fields["skill_ids"] = c.resolve_many("skill", opts["skill"])
    if opts.get("source"):
        fields["source_ids"] = c.resolve_many("source", opts["source"])
    if opts.get("paused") is not None:
        fields["status"] = "paused" if opts["paused"] else "active"
    if not creating and not fields:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    return fields


# --- commands ------------------------------------------------------------------------


@tasks.command("list")
@c.json_option
def list_tasks() -> None:
    """List every task."""
    items = c.client().promptly.tasks.list()

    def human() -> None:
        rows = [[c.short(t.id), c.clip(t.name, 32), schedule_summary(t),
                 c.when(t.next_run_at, zone=t.timezone), t.status, t.model] for t in items]
        c.table(["ID", "NAME", "SCHEDULE", "NEXT RUN", "STATUS", "MODEL"], rows,
                empty="No tasks yet: create one with "
                      "`promptly tasks create --name NAME --prompt PROMPT`.")

    c.output(items, human)


@tasks.command("show")
@click.argument("task_id", metavar="ID")
@c.json_option
def show(task_id: str) -> None:
    """Show a task: schedule, model, attachments, prompt."""
    task = c.client().promptly.tasks.retrieve(c.resolve("task", task_id))
    c.output(task, lambda: show_task(task))


@tasks.command("create")
@task_options(creating=True)
@c.json_option
def create(**opts: Any) -> None:
    """Create a task.

    Without --schedule or --cron it runs daily at 09:00 (in the task's zone); without
    --model it uses the config's default_model.
    """
    task = c.client().promptly.tasks.create(**task_fields(opts, creating=True))
    c.output(task, lambda: click.echo(f"Created task {task.name!r} ({c.short(task.id)}); "
                                      f"next run: {next_run(task)}."))


@tasks.command("update")
@click.argument("task_id", metavar="ID")
@task_options(creating=False)
@c.json_option
def update(task_id: str, **opts: Any) -> None:
    """Change a task; only the options given are changed."""
    fields = task_fields(opts, creating=False)
    task = c.client().promptly.tasks.update(c.resolve("task", task_id), **fields)
    c.output(task, lambda: click.echo(f"Updated task {task.name!r} ({c.short(task.id)}); "
                                      f"next run: {next_run(task)}."))


@tasks.command("delete")
@click.argument("task_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@c.json_option
def delete(task_id: str, yes: bool) -> None:
    """Delete a task and its run history."""
    api = c.client().promptly
    task = api.tasks.retrieve(c.resolve("task", task_id))
    if not yes:
        click.confirm(f"Delete task {task.name!r} ({c.short(task.id)}) and its run history?",
                      abort=True, err=True)
    result = api.tasks.delete(task.id)
    c.done(f"Deleted task {task.name!r} ({c.short(task.id)}).", result)


def _set_status(task_id: str, status: Literal["active", "paused"], verb: str) -> None:
    api = c.client().promptly
    task = api.tasks.update(c.resolve("task", task_id), status=status)
    c.output(task, lambda: click.echo(f"{verb} task {task.name!r} ({c.short(task.id)}); "
                                      f"next run: {next_run(task)}."))


@tasks.command("pause")
@click.argument("task_id", metavar="ID")
@c.json_option
def pause(task_id: str) -> None:
    """Pause a task: it keeps its schedule but does not run."""
    _set_status(task_id, "paused", "Paused")


@tasks.command("resume")
@click.argument("task_id", metavar="ID")
@c.json_option
def resume(task_id: str) -> None:
    """Resume a paused (or completed) task."""
    _set_status(task_id, "active", "Resumed")


def _link_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--source", multiple=True, metavar="ID",
                     help="A source (id, prefix or slug; repeatable).")(f)
    f = click.option("--skill", multiple=True, metavar="ID",
                     help="A skill (id, prefix or slug; repeatable).")(f)
    return f


def _links(skill: tuple[str, ...], source: tuple[str, ...]) -> tuple[list[str], list[str]]:
    if not skill and not source:
        raise click.UsageError("give at least one --skill or --source")
    return c.resolve_many("skill", skill), c.resolve_many("source", source)


@tasks.command("attach")
@click.argument("task_id", metavar="ID")
@_link_options
@c.json_option
def attach(task_id: str, skill: tuple[str, ...], source: tuple[str, ...]) -> None:
    """Attach skills and sources to a task.

    Skills are prepended to the prompt in the order attached.
    """
    api = c.client().promptly
    tid = c.resolve("task", task_id)
    skill_ids, source_ids = _links(skill, source)
    for sid in skill_ids:
        api.tasks.skills.attach(tid, skill_id=sid)
    for sid in source_ids:
        api.tasks.sources.attach(tid, source_id=sid)
    c.done(f"Attached {len(skill_ids)} skill(s) and {len(source_ids)} source(s) to task "
           f"{c.short(tid)}.")


@tasks.command("detach")
@click.argument("task_id", metavar="ID")
@_link_options
@c.json_option
def detach(task_id: str, skill: tuple[str, ...], source: tuple[str, ...]) -> None:
    """Detach skills and sources from a task."""
    api = c.client().promptly
    tid = c.resolve("task", task_id)
    skill_ids, source_ids = _links(skill, source)
    for sid in skill_ids:
        api.tasks.skills.detach(sid, task_id=tid)
    for sid in source_ids:
        api.tasks.sources.detach(sid, task_id=tid)
    c.done(f"Detached {len(skill_ids)} skill(s) and {len(source_ids)} source(s) from task "
           f"{c.short(tid)}.")


@tasks.command("run")
@click.argument("task_id", metavar="ID")
@click.option("--wait", "-w", is_flag=True,
              help="Wait for the run to finish and print its output (exit 1 if it failed).")
@click.option("--timeout", type=float, default=600.0, show_default=True, metavar="SECONDS",
              help="How long --wait waits.")
@c.json_option
def run(task_id: str, wait: bool, timeout: float) -> None:
    """Run a task now, whatever its schedule."""
    from promptlyd.client import RunWaitTimeout

    api = c.client().promptly
    started = api.tasks.run(c.resolve("task", task_id))
    run_id = started.id or ""
    if not wait:
        c.output(started, lambda: click.echo(
            f"Started run {c.short(run_id)} ({started.status}); follow it with "
            f"`promptly runs show {c.short(run_id)}`."))
        return
    try:
        finished = api.runs.wait(run_id, timeout=timeout)
    except RunWaitTimeout as exc:
        raise c.CliError(f"run {c.short(run_id)} is still {exc.run.status} after "
                         f"{timeout:g}s; follow it with `promptly runs show "
                         f"{c.short(run_id)}`") from exc
    if c.state().json:
        c.emit_json(finished.to_dict())
    elif finished.output is not None:
        click.echo(finished.output)
    if finished.status == RunStatus.FAILED.value:
        raise c.CliError(f"run {c.short(run_id)} failed: {finished.error or 'no reason given'}")


@tasks.command("runs")
@click.argument("task_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many runs, newest first.")
@c.json_option
def task_runs(task_id: str, limit: int) -> None:
    """List a task's runs, newest first."""
    items = c.client().promptly.tasks.list_runs(c.resolve("task", task_id), limit=limit)
    c.output(items, lambda: runs_table(items))


@tasks.command("next")
@click.argument("task_id", metavar="ID")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many fire times.")
@c.json_option
def next_fires(task_id: str, count: int) -> None:
    """Show when a task will run next, in its zone and in UTC (check before trusting)."""
    preview = c.client().promptly.tasks.next(c.resolve("task", task_id), n=count)

    def human() -> None:
        zone = preview.get("timezone")
        click.echo(f"{preview['description']} — {preview['status']}")
        c.table((f"IN {zone}" if zone else "LOCAL", "UTC"),
                [(c.when(f["at"], zone=zone), c.format_instant(
                    datetime.fromisoformat(f["at"].replace("Z", "+00:00")), utc=True))
                 for f in preview["fireTimes"]],
                empty="It will not run again (paused or completed).")

    c.output(preview, human)
