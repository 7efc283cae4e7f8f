"""Write rows into a running daemon's database from outside (WAL allows it).

Used where a test needs runs to exist before the runner makes them, e.g. to
check that the runs endpoints read real rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def db_path(daemon: Any) -> Path:
    return Path(daemon.env["XDG_DATA_HOME"]) / "promptly" / "promptly.db"


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def insert_run(daemon: Any, task_id: str, *, status: str = "completed",
               output: str | None = None, error: str | None = None, tokens: int = 0,
               cost: float = 0.0, created: datetime | None = None,
               scheduled_for: str | None = None) -> str:
    run_id = str(uuid.uuid4())
    created = created or datetime.now(UTC)
    done = status in ("completed", "failed")
    values: dict[str, Any] = {
        "id": run_id, "task_id": task_id, "status": status, "trigger": "manual",
        "created_at": iso(created), "started_at": iso(created),
        "completed_at": iso(created + timedelta(seconds=1)) if done else None,
        "duration_ms": 1000 if done else None, "output": output, "error": error,
        "tokens_used": tokens, "cost_cents": cost,
        "delivery_status": "delivered" if status == "completed" else None,
        "scheduled_for": scheduled_for,
    }
    conn = sqlite3.connect(db_path(daemon), timeout=10)
    with conn:
        cols = ", ".join(values)
        conn.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(values))})",
                     list(values.values()))
    conn.close()
    return run_id


def dump(daemon: Any) -> list[str]:
    """Every row of every table, for 'nothing changed' assertions."""
    conn = sqlite3.connect(f"file:{db_path(daemon)}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
