"""Storage: SQLite through sqlite-utils, one writer thread, one reader thread."""

from promptlyd.store.db import AsyncStore, Store, open_store

__all__ = ["AsyncStore", "Store", "open_store"]
