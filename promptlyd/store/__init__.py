"""Storage: SQLite through sqlite-utils — the schema and its migrations (``schema``),
one writer thread and one read-only reader thread (``db``).

The only place that writes SQL: every other package calls a ``Store`` method, and
every change of a run's status goes through its one transition function.
"""

from promptlyd.store.db import AsyncStore, Store, open_store

__all__ = ["AsyncStore", "Store", "open_store"]
