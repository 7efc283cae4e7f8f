"""The database's health, read-only: ``PRAGMA integrity_check`` and the schema version
(the migrations applied, and those this promptlyd would still apply) — for ``doctor``."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from promptlyd.store.schema import migrations


@dataclass(frozen=True)
class DatabaseHealth:
    integrity: list[str]  # ["ok"] when sound
    applied: list[str]  # migration names, in order
    pending: list[str] = field(default_factory=list)  # applied at the daemon's next start

    @property
    def sound(self) -> bool:
        return self.integrity == ["ok"]

    @property
    def version(self) -> str:
        return self.applied[-1] if self.applied else "none"


def check_database(path: Path) -> DatabaseHealth:
    """Open ``path`` read-only and check it; ``sqlite3.Error``/``OSError`` if it cannot be
    read (missing, not a database, no permission)."""
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    with open(path, "rb"):  # a permission problem as OSError, before SQLite's own words
        pass
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        db = Database(conn)
        applied = [m.name for m in migrations.applied(db)]
        pending = [m.name for m in migrations.pending(db)]
    finally:
        conn.close()
    return DatabaseHealth([str(r[0]) for r in rows], applied, pending)
