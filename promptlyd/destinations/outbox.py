"""The outbox: which rows a finished run gets, what an attempt changes, and the run's
``deliveryStatus``/``deliveries`` summary. ``plan`` and ``summarize`` are pure; the
other functions run inside a write transaction, through ``promptlyd.store.outbox``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from promptlyd.destinations.base import Attempt
from promptlyd.destinations.policy import skip_reason
from promptlyd.destinations.retry import Step
from promptlyd.destinations.targets import effective, mask
from promptlyd.runs.states import FINISHED, DeliveryStatus, OutboxStatus, RunStatus
from promptlyd.store import outbox as sql
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso


def message_id(delivery_id: str) -> str:
    """The ``webhook-id`` of a delivery: derived from its row, so the same on every retry."""
    return "msg_" + delivery_id.replace("-", "")


def plan(task: Mapping[str, Any], run: Mapping[str, Any],
         last_sent: Mapping[tuple[str, str], str | None], now: datetime, *,
         force: bool = False, new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
         ) -> list[Row]:
    """One outbox row per destination of ``task`` for the finished ``run``: pending (due
    now) or skipped with the reason. ``force`` (redeliver) ignores ``deliverOn``."""
    failed = run["status"] == RunStatus.FAILED
    stamp = iso(now)
    rows: list[Row] = []
    for position, dest in enumerate(effective(task)):
        key = (dest["type"], dest["value"])
        reason = None if force else skip_reason(
            task.get("deliver_on"), failed=failed, output=run.get("output"),
            last_sent=last_sent.get(key), sent_before=key in last_sent)
        rows.append({
            "id": new_id(), "run_id": run["id"], "task_id": run["task_id"],
            "position": position, "type": dest["type"], "target": dest["value"],
            "label": dest.get("label"), "event": "run.failed" if failed else "run.completed",
            "status": OutboxStatus.SKIPPED if reason else OutboxStatus.PENDING, "attempts": 0,
            "last_error": reason, "next_attempt_at": None if reason else stamp,
            "created_at": stamp,
        })
    return rows


def summarize(rows: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The run's ``deliveryStatus`` and ``deliveries`` from its outbox rows.

    pending while any is pending; else failed if any failed; else delivered (all
    sent or skipped). No rows: no status.
    """
    if not rows:
        return None, None
    statuses = {r["status"] for r in rows}
    status = (DeliveryStatus.PENDING if OutboxStatus.PENDING in statuses
              else DeliveryStatus.FAILED if OutboxStatus.FAILED in statuses
              else DeliveryStatus.DELIVERED)
    summary = []
    for r in rows:
        item: dict[str, Any] = {
            "type": r["type"], "target": mask(r["type"], r["target"]), "status": r["status"],
            "attempts": r["attempts"],
        }
        if r.get("label"):
            item["label"] = r["label"]
        if r["status"] == OutboxStatus.SKIPPED:
            item["reason"] = r.get("last_error")
        else:
            for key, col in (("lastCode", "last_code"), ("lastError", "last_error"),
                             ("nextAttemptAt", "next_attempt_at"),
                             ("deliveredAt", "delivered_at")):
                if r.get(col) is not None:
                    item[key] = r[col]
        summary.append(item)
    return status, summary


def refresh(store: Store, run_id: str) -> Row | None:
    """The run's summary from its outbox rows; the run as it is then."""
    status, summary = summarize(sql.deliveries_of(store, run_id))
    return sql.set_run_delivery(store, run_id, status, summary)


def enqueue(store: Store, run: Row, now: datetime) -> Row | None:
    """A finished run's outbox rows; called inside the transaction that finishes it.
    The run with its delivery summary, or None when it gets no rows."""
    task = store.get("tasks", run["task_id"])
    if task is None or run["status"] not in FINISHED:
        return None
    # only "changed" compares with what was sent before (a task's whole history)
    changed = task.get("deliver_on") == "changed" and run["status"] == RunStatus.COMPLETED
    rows = plan(task, run, sql.last_sent_outputs(store, task["id"]) if changed else {}, now)
    if not rows:
        return None
    sql.add_deliveries(store, rows)
    return refresh(store, run["id"])


def record(store: Store, delivery: Row, attempts: int, attempt: Attempt, step: Step,
           now: datetime) -> Row | None:
    """One attempt's result on the ``delivery`` row, and the run's summary, in one
    write; the run after, None when the row is gone (its run or task deleted)."""
    if not sql.update_delivery(store, delivery["id"], {
        "status": step.status, "attempts": attempts, "last_code": attempt.code,
        "last_error": None if step.status == OutboxStatus.DELIVERED else step.detail,
        "next_attempt_at": iso(step.next_attempt_at) if step.next_attempt_at else None,
        "delivered_at": iso(now) if step.status == OutboxStatus.DELIVERED else None,
    }):
        return None
    return refresh(store, delivery["run_id"])


def requeue(store: Store, run: Row, now: datetime) -> int:
    """``redeliver``: every destination of the run pending again, due now. A run that had
    none gets its task's current destinations (``deliverOn`` aside). Returns how many."""
    count = sql.requeue_run(store, run["id"], iso(now))
    if count == 0:
        task = store.get("tasks", run["task_id"])
        rows = plan(task, run, {}, now, force=True) if task is not None else []
        sql.add_deliveries(store, rows)
        count = len(rows)
    refresh(store, run["id"])
    return count
