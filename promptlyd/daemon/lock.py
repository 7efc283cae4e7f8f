"""One daemon per database: an exclusive ``flock`` on ``<database>.lock``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from promptlyd.errors import AlreadyRunning


class DatabaseLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 (held for the daemon's life)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise AlreadyRunning(
                f"another promptlyd (pid {pid}) is already running on {self.path.with_suffix('')}"
                "; stop it first (`promptly service stop` or `kill " + pid + "`)"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
