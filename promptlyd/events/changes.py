"""What a committed write changed → the events it means (pure, but for ``publish``).

A run made or moved (``RunChange``) is told as ``run.created`` / ``run.started`` /
``run.completed`` / ``run.failed`` — a run the scheduler creates already running
is told created then started, one refused by the budget created then failed —
and a delivery that settles as ``delivery.succeeded`` / ``delivery.failed``. A
task row made, changed or deleted is ``task.created`` / ``task.updated`` /
``task.deleted`` — whoever wrote it: the API, or the scheduler moving ``nextRunAt``
on and completing a ``once`` task. A skill row written (the folder watcher, the
API) is ``skill.changed``. At most one event per task or skill and write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from promptlyd.events.bus import EventBus
from promptlyd.runs.states import DeliveryStatus, RunStatus
from promptlyd.store.db import Change, RowChange, RunChange

ERROR_CHARS = 300  # an event is small: the run itself has the whole error
_RUN_EVENTS = {RunStatus.RUNNING: "run.started", RunStatus.COMPLETED: "run.completed",
               RunStatus.FAILED: "run.failed"}
_DELIVERY_EVENTS = {DeliveryStatus.DELIVERED: "delivery.succeeded",
                    DeliveryStatus.FAILED: "delivery.failed"}
_CHANGES = {"insert": "created", "update": "updated", "delete": "deleted"}


def _run_data(row: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"runId": row["id"], "taskId": row["task_id"],
                            "status": str(row["status"]), "trigger": row.get("trigger")}
    if row.get("scheduled_for"):
        data["scheduledFor"] = row["scheduled_for"]
    if row["status"] in (RunStatus.COMPLETED, RunStatus.FAILED):
        for key, column in (("durationMs", "duration_ms"), ("tokensUsed", "tokens_used"),
                            ("costCents", "cost_cents")):
            if row.get(column) is not None:
                data[key] = row[column]
        error = row.get("error")
        if error:
            data["error"] = error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS] + "…"
    return data


def run_events(change: RunChange) -> Iterator[tuple[str, dict[str, Any]]]:
    row = change.row
    status = RunStatus(row["status"])
    if change.before is None:
        yield "run.created", _run_data(row)
    if status != change.before and status in _RUN_EVENTS:
        yield _RUN_EVENTS[status], _run_data(row)
    delivery = row.get("delivery_status")
    if delivery is not None and delivery != change.delivery_before:
        name = _DELIVERY_EVENTS.get(DeliveryStatus(delivery))
        if name is not None:
            yield name, {"runId": row["id"], "taskId": row["task_id"],
                         "deliveryStatus": str(delivery),
                         "destinations": len(row.get("deliveries") or [])}


def _fold(rows: dict[str, RowChange], change: RowChange) -> None:
    """One change per row and write: made-then-changed is made; deleted is deleted."""
    seen = rows.get(change.row_id)
    if seen is None or change.op == "delete":
        rows[change.row_id] = change
    elif seen.op != "delete":
        rows[change.row_id] = RowChange(change.table, seen.op, change.row_id,
                                        change.status or seen.status)


def events_of(changes: Iterable[Change]) -> Iterator[tuple[str, dict[str, Any]]]:
    tasks: dict[str, RowChange] = {}
    skills: dict[str, RowChange] = {}
    for change in changes:
        if isinstance(change, RunChange):
            yield from run_events(change)
        elif change.table == "tasks":
            _fold(tasks, change)
        elif change.table == "skills":
            _fold(skills, change)
    for task in tasks.values():
        data = {"taskId": task.row_id}
        if task.status is not None:
            data["status"] = task.status
        yield f"task.{_CHANGES[task.op]}", data
    for skill in skills.values():
        yield "skill.changed", {"skillId": skill.row_id, "change": _CHANGES[skill.op]}


def teller(bus: EventBus) -> Callable[[list[Change]], None]:
    """``AsyncStore.on_change`` for ``bus``: publish what each committed write changed."""

    def tell(changes: list[Change]) -> None:
        if not bus.subscribers:
            return  # nobody listens: not even the mapping costs anything
        for event_type, data in events_of(changes):
            bus.publish(event_type, data)

    return tell
