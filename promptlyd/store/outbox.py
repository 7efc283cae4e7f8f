"""The delivery outbox's SQL (table ``deliveries``, migration ``m002_deliveries``).

Each function takes the ``Store`` of the transaction it runs in: the executor
writes a finished run's rows inside the write that records the run's final
status, the delivery worker records each attempt with the run's summary in one
write. The run's ``delivery_status`` and ``deliveries`` columns are written only
by :func:`set_run_delivery`, which routes a status change through the run's
delivery transition table (``Store.transition_run``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from promptlyd.runs.states import DeliveryStatus
from promptlyd.store.db import Row, Store

TABLE = "deliveries"


def add_deliveries(store: Store, rows: Sequence[Row]) -> None:
    """Insert a run's outbox rows (one per destination)."""
    for row in rows:
        store.insert(TABLE, row)


def deliveries_of(store: Store, run_id: str) -> list[Row]:
    return store._all(TABLE, "SELECT * FROM deliveries WHERE run_id = ? ORDER BY position",
                      [run_id])


def _not_in(ids: Collection[str]) -> str:
    return f" AND id NOT IN ({', '.join('?' for _ in ids)})" if ids else ""


def due_deliveries(store: Store, now_iso: str, limit: int = 100,
                   exclude: Collection[str] = ()) -> list[Row]:
    """Pending rows (not in ``exclude``) whose next attempt is due, oldest first."""
    ids = list(exclude)
    return store._all(
        TABLE,
        f"SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
        f"{_not_in(ids)} ORDER BY next_attempt_at, id LIMIT ?",
        [now_iso, *ids, limit],
    )


def next_due_at(store: Store, exclude: Collection[str] = ()) -> str | None:
    """When the earliest pending delivery (not in ``exclude``) is due, or None."""
    ids = list(exclude)
    skip = _not_in(ids)
    row = store.conn.execute(
        f"SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'{skip}", ids
    ).fetchone()
    return None if row is None else row[0]


def update_delivery(store: Store, delivery_id: str, changes: Row) -> bool:
    """Record an attempt (status, attempts, last code/error, next attempt, delivered-at)."""
    return store.update(TABLE, delivery_id, changes)


def requeue_run(store: Store, run_id: str, now_iso: str) -> int:
    """Every delivery of the run back to pending, due now, with a fresh attempt count."""
    cur = store.conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, last_code = NULL, "
        "last_error = NULL, next_attempt_at = ?, delivered_at = NULL WHERE run_id = ?",
        [now_iso, run_id],
    )
    return cur.rowcount


def last_sent_outputs(store: Store, task_id: str) -> dict[tuple[str, str], str | None]:
    """Per (type, target): the output of the newest completed run that was delivered (or is
    being delivered) there — what ``deliverOn: "changed"`` compares with."""
    rows = store.conn.execute(
        "SELECT d.type, d.target, r.output FROM deliveries d JOIN runs r ON r.id = d.run_id "
        "WHERE d.task_id = ? AND d.event = 'run.completed' "
        "AND d.status IN ('pending', 'delivered') "
        "ORDER BY d.created_at, d.rowid",
        [task_id],
    ).fetchall()
    out: dict[tuple[str, str], str | None] = {}
    for kind, target, output in rows:  # the newest wins
        out[(kind, target)] = output
    return out


def set_run_delivery(store: Store, run_id: str, status: str | None,
                     summary: list[dict[str, Any]] | None) -> Row | None:
    """The run's ``delivery_status`` (pending | delivered | failed) and ``deliveries``:
    a changed status goes through the run's delivery transition table. The run after,
    None when it is gone."""
    to = None if status is None else DeliveryStatus(status)
    return store.transition_run(run_id, changes={"deliveries": summary}, delivery=to,
                                same_delivery_ok=True)
