"""SQLite access: ``Store`` (synchronous, one connection) and ``AsyncStore``.

``AsyncStore`` owns two threads: one writer and one reader on its own
read-only connection (WAL lets it read while the writer writes). Coroutines
hand a function ``fn(store) -> T`` to one of them.

Group commit: the writes waiting when the writer thread gets to them share one
``BEGIN IMMEDIATE`` … ``COMMIT``, each inside its own savepoint — a write that
raises rolls back only itself (and its caller gets the exception), the others
commit; every caller hears back only after the commit. A write is as atomic
and as durable as when it had a transaction of its own; under load there are
fewer commits and fewer thread hand-offs (one per batch, not one per write).

WAL checkpoints do not run on the writer (SQLite's automatic checkpoint would
stall the commit that triggers it, and with it the scheduler's next claim): a
passive checkpoint runs on a third connection every ``CHECKPOINT_EVERY``
writes — triggered by writes, never by a timer.

Runs have their own entry points: ``insert_run`` (the only way a run row is
made) and ``transition_run`` / ``fail_unfinished_runs`` (the only ways a run's
``status`` or ``delivery_status`` changes; both check the transition tables of
:mod:`promptlyd.runs.states`). ``update`` refuses to touch those two columns.

Every write notes what it changed (``Store.changes``: a ``RunChange`` per run made
or moved, a ``RowChange`` per row of any table inserted, updated or deleted); a
savepoint rolled back forgets its notes. Once the transaction has committed,
``AsyncStore.write`` hands them to ``on_change`` (the event bus) on the event
loop — so a change is told only after it is durable, and a rolled-back one never.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import threading
import uuid
from collections.abc import (
    AsyncGenerator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlite_utils import Database

from promptlyd import jsoncodec
from promptlyd.errors import NotFound
from promptlyd.runs.states import (
    DeliveryStatus,
    RunStatus,
    check_delivery_transition,
    check_run_transition,
    sources_of,
)
from promptlyd.store.schema import migrate

log = logging.getLogger("promptlyd.store")
T = TypeVar("T")
CHECKPOINT_EVERY = 200
Row = dict[str, Any]

# Columns holding JSON, per table.
JSON_COLUMNS = {
    "tasks": ("schedule_days", "destinations"),
    "skills": ("frontmatter",),
    "sources": ("config", "auth_config", "tools"),
    "runs": ("tool_calls", "deliveries"),
}
BOOL_COLUMNS = {
    "tasks": ("delivery_email", "delivery_sms"),
    "skills": ("is_public", "is_user_invocable"),
    "sources": ("is_active", "composio_connected"),
    "runs": ("tokens_estimated",),
}
STATUS_COLUMNS = frozenset({"status", "delivery_status"})  # runs: only via transition_run


@dataclass(frozen=True)
class RunChange:
    """A run made (``before`` None) or moved; ``row`` is the run as committed."""

    before: RunStatus | None
    delivery_before: DeliveryStatus | None
    row: Row


@dataclass(frozen=True)
class RowChange:
    """A row of ``table`` inserted, updated or deleted (``op``)."""

    table: str
    op: str  # "insert" | "update" | "delete"
    row_id: str
    status: str | None = None  # the status the write set, if it set one


Change = RunChange | RowChange


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # AsyncStore checkpoints off-thread
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.row_factory = sqlite3.Row
    return conn


def _make_decoder(table: str, cols: tuple[str, ...]) -> Callable[[Sequence[Any]], Row]:
    json_cols = frozenset(JSON_COLUMNS.get(table, ()))
    bool_cols = frozenset(BOOL_COLUMNS.get(table, ()))
    jsons = tuple((i, c) for i, c in enumerate(cols) if c in json_cols)
    bools = tuple((i, c) for i, c in enumerate(cols) if c in bool_cols)
    loads = jsoncodec.loads  # NaN and the like, which older writes could store

    def decode(values: Sequence[Any]) -> Row:
        out = dict(zip(cols, values, strict=True))
        for i, col in jsons:
            if values[i] is not None:
                out[col] = loads(values[i])
        for i, col in bools:
            if values[i] is not None:
                out[col] = bool(values[i])
        return out

    return decode


def _encode(table: str, values: Row) -> Row:
    out = dict(values)
    for col in JSON_COLUMNS.get(table, ()):
        if col in out and out[col] is not None:
            out[col] = jsoncodec.dumps(out[col]).decode()
    for col in BOOL_COLUMNS.get(table, ()):
        if col in out and out[col] is not None:
            out[col] = int(bool(out[col]))
    return out


class Store:
    """Synchronous operations on one connection. Not thread-safe: one thread each."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.db = Database(conn)
        self.changes: list[Change] = []  # this transaction's, for AsyncStore.on_change
        # (table, column names) → its row decoder, built once: a handful of distinct queries
        self._decoders: dict[tuple[str, tuple[str, ...]], Callable[[Sequence[Any]], Row]] = {}

    # --- generic helpers ------------------------------------------------------

    def _tuples(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        cur = self.conn.cursor()
        cur.row_factory = None  # plain tuples: _decoder builds the dicts
        return cur.execute(sql, params)

    def _decoder(self, table: str, description: Sequence[Sequence[Any]]) -> Callable[
        [Sequence[Any]], Row
    ]:
        """A function from one result tuple to a row dict, JSON and boolean columns
        decoded; the column positions are worked out once per column list."""
        key = (table, tuple(d[0] for d in description))
        decode = self._decoders.get(key)
        if decode is None:
            decode = self._decoders[key] = _make_decoder(*key)
        return decode

    def _one(self, table: str, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = self._tuples(sql, params)
        values = cur.fetchone()
        return None if values is None else self._decoder(table, cur.description)(values)

    def _all(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._tuples(sql, params)
        values = cur.fetchall()
        if not values:
            return []
        return list(map(self._decoder(table, cur.description), values))

    def insert(self, table: str, values: Row) -> None:
        enc = _encode(table, values)
        cols = ", ".join(enc)
        marks = ", ".join("?" for _ in enc)
        self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(enc.values()))
        if "id" in values:
            self.changes.append(RowChange(table, "insert", str(values["id"]),
                                          values.get("status")))

    def update(self, table: str, row_id: str, values: Row) -> bool:
        if table == "runs" and STATUS_COLUMNS & values.keys():
            raise ValueError("a run's status changes only through Store.transition_run")
        return self._update(table, row_id, values)

    def _update(self, table: str, row_id: str, values: Row) -> bool:
        if not values:
            return self.get(table, row_id) is not None
        enc = _encode(table, values)
        sets = ", ".join(f"{c} = ?" for c in enc)
        cur = self.conn.execute(
            f"UPDATE {table} SET {sets} WHERE id = ?", [*enc.values(), row_id]
        )
        if cur.rowcount > 0:
            self.changes.append(RowChange(table, "update", row_id, values.get("status")))
        return cur.rowcount > 0

    def delete(self, table: str, row_id: str) -> bool:
        gone = self.conn.execute(f"DELETE FROM {table} WHERE id = ?", [row_id]).rowcount > 0
        if gone:
            self.changes.append(RowChange(table, "delete", row_id))
        return gone

    def get(self, table: str, row_id: str) -> Row | None:
        return self._one(table, f"SELECT * FROM {table} WHERE id = ?", [row_id])

    def get_many(self, table: str, ids: Iterable[str]) -> dict[str, Row]:
        ids = list(ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self._all(table, f"SELECT * FROM {table} WHERE id IN ({marks})", ids)
        return {r["id"]: r for r in rows}

    def count(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    @contextlib.contextmanager
    def savepoint(self, name: str = "step") -> Iterator[None]:
        """A nested transaction: an exception inside rolls back only what it did
        (and is re-raised); otherwise its changes join the enclosing transaction."""
        if not name.isidentifier():
            raise ValueError(f"savepoint names are identifiers, got {name!r}")
        self.conn.execute(f"SAVEPOINT {name}")
        noted = len(self.changes)
        try:
            yield
        except BaseException:
            del self.changes[noted:]  # rolled back: never told
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    # --- meta -----------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def organization_id(self) -> str:
        org = self.meta("organization_id")
        if org is None:
            org = str(uuid.uuid4())
            self.set_meta("organization_id", org)
        return org

    # --- tasks ------------------------------------------------------------------

    def task_count(self) -> int:
        """Every task the user has, whatever its status."""
        return int(self.count("SELECT COUNT(*) FROM tasks"))

    def scheduled_tasks(self) -> list[tuple[str, str]]:
        """(id, next_run_at) of every active task with a next instant (the scheduler's heap)."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT id, next_run_at FROM tasks WHERE status = 'active' "
            "AND next_run_at IS NOT NULL")]

    def providers_in_use(self) -> list[str]:
        """The provider part of the models that active tasks use (to warm their clients)."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT substr(model, 1, instr(model, '/') - 1) FROM tasks "
            "WHERE status = 'active' ORDER BY 1")]

    def list_tasks(self, limit: int | None = None) -> list[Row]:
        """Oldest first: by creation instant, tasks made in the same one in the order
        they were made (see migration m004)."""
        return [row for page in self.iter_tasks(limit) for row in page]

    def iter_tasks(self, limit: int | None = None, *, page: int = 1000) -> Iterator[list[Row]]:
        """``list_tasks`` a page of rows at a time."""
        sql = "SELECT * FROM tasks ORDER BY created_at, rowid"
        cur = self._tuples(sql + " LIMIT ?", [limit]) if limit is not None else self._tuples(
            sql, [])
        decode = self._decoder("tasks", cur.description)
        while values := cur.fetchmany(page):
            yield list(map(decode, values))

    def task_links(self, task_ids: Sequence[str] | None) -> tuple[
        dict[str, list[str]], dict[str, list[str]]
    ]:
        """Attached skill and source ids per task, in attach order."""
        skills: dict[str, list[str]] = {}
        sources: dict[str, list[str]] = {}
        where, params = "", list(task_ids or [])
        if task_ids is not None:
            if not task_ids:
                return skills, sources
            where = f" WHERE task_id IN ({', '.join('?' for _ in params)})"
        for tid, sid in self.conn.execute(
            f"SELECT task_id, skill_id FROM task_skills{where} ORDER BY task_id, position",
            params,
        ):
            skills.setdefault(tid, []).append(sid)
        for tid, sid in self.conn.execute(
            f"SELECT task_id, source_id FROM task_sources{where} ORDER BY task_id, position",
            params,
        ):
            sources.setdefault(tid, []).append(sid)
        return skills, sources

    def set_links(self, kind: str, task_id: str, ids: Sequence[str]) -> None:
        table, col = _link_table(kind)
        self.conn.execute(f"DELETE FROM {table} WHERE task_id = ?", [task_id])
        self.conn.executemany(
            f"INSERT INTO {table} (task_id, {col}, position) VALUES (?, ?, ?)",
            [(task_id, item, pos) for pos, item in enumerate(ids)],
        )

    def attach(self, kind: str, task_id: str, item_id: str) -> bool:
        """Append ``item_id`` to the task's list; False if it was already there."""
        table, col = _link_table(kind)
        exists = self.conn.execute(
            f"SELECT 1 FROM {table} WHERE task_id = ? AND {col} = ?", [task_id, item_id]
        ).fetchone()
        if exists:
            return False
        pos = self.count(
            f"SELECT COALESCE(MAX(position) + 1, 0) FROM {table} WHERE task_id = ?", [task_id]
        )
        self.conn.execute(
            f"INSERT INTO {table} (task_id, {col}, position) VALUES (?, ?, ?)",
            [task_id, item_id, pos],
        )
        return True

    def detach(self, kind: str, task_id: str, item_id: str) -> bool:
        table, col = _link_table(kind)
        cur = self.conn.execute(
            f"DELETE FROM {table} WHERE task_id = ? AND {col} = ?", [task_id, item_id]
        )
        return cur.rowcount > 0

    def tasks_using(self, kind: str, item_id: str) -> list[str]:
        table, col = _link_table(kind)
        return [r[0] for r in self.conn.execute(
            f"SELECT task_id FROM {table} WHERE {col} = ? ORDER BY task_id", [item_id]
        )]

    # --- skills and sources --------------------------------------------------------

    def list_rows(self, table: str, limit: int | None = None) -> list[Row]:
        sql = f"SELECT * FROM {table} ORDER BY created_at, id"
        if limit is not None:
            return self._all(table, sql + " LIMIT ?", [limit])
        return self._all(table, sql)

    def by_slug(self, table: str, slug: str) -> Row | None:
        return self._one(table, f"SELECT * FROM {table} WHERE slug = ?", [slug])

    def slugs(self, table: str) -> set[str]:
        return {r[0] for r in self.conn.execute(f"SELECT slug FROM {table}")}

    # --- runs -----------------------------------------------------------------------

    def list_runs(self, *, task_id: str | None = None, limit: int = 100) -> list[Row]:
        if task_id is None:
            return self._all(
                "runs", "SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?", [limit]
            )
        return self._all(
            "runs",
            "SELECT * FROM runs WHERE task_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [task_id, limit],
        )

    def latest_runs(self) -> dict[str, Row]:
        """The newest run of every task that has one (the order ``list_runs`` uses),
        in one query: per task, one step down the ``runs_task_created`` index."""
        rows = self._all(
            "runs",
            "SELECT r.* FROM tasks t JOIN runs r ON r.id = ("
            "SELECT id FROM runs WHERE task_id = t.id "
            "ORDER BY created_at DESC, id DESC LIMIT 1)",
        )
        return {r["task_id"]: r for r in rows}

    def last_output(self, task_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT output FROM runs WHERE task_id = ? AND status = ? "
            "ORDER BY completed_at DESC LIMIT 1",
            [task_id, RunStatus.COMPLETED],
        ).fetchone()
        return None if row is None else row[0]

    def insert_run(self, run: Row) -> bool:
        """Store a new run (built by ``promptlyd.runs.create.new_run``). False when its
        slot (task, scheduled instant) was served already: a slot runs at most once.
        ``NotFound`` when the task is gone."""
        check_run_transition(None, RunStatus(run["status"]))
        if run.get("delivery_status") is not None:
            check_delivery_transition(None, DeliveryStatus(run["delivery_status"]))
        try:
            self.insert("runs", run)
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_UNIQUE":
                return False
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_FOREIGNKEY":
                raise NotFound(f"no task with id {run['task_id']!r}", field="taskId") from exc
            raise
        self.changes.append(RunChange(None, None, run))
        return True

    def transition_run(
        self, run_id: str, to: RunStatus | None = None, changes: Row | None = None, *,
        delivery: DeliveryStatus | None = None,
        expect: Collection[RunStatus] | None = None,
        expect_delivery: Collection[DeliveryStatus | None] | None = None,
        same_delivery_ok: bool = False,
    ) -> Row | None:
        """Change a run's status to ``to`` and/or its delivery status to ``delivery``,
        with ``changes`` to its other columns; returns the updated row.
        ``same_delivery_ok``: a ``delivery`` equal to the current one is no change
        (the outbox's summary, rewritten while its status stays the same).

        ``expect``/``expect_delivery``: apply only if the run is in one of these
        states now, else change nothing and return None (a run that finished while
        we were looking is not an error). Without them, a change the transition table
        forbids raises ``IllegalTransition`` and changes nothing. None also when the
        run does not exist (its task was deleted).
        """
        sets = dict(changes or {})
        if STATUS_COLUMNS & sets.keys():
            raise ValueError("pass the status as `to` / `delivery`, not in changes")
        row = self.conn.execute("SELECT status, delivery_status FROM runs WHERE id = ?",
                                [run_id]).fetchone()
        if row is None:
            return None
        status = RunStatus(row[0])
        current_delivery = None if row[1] is None else DeliveryStatus(row[1])
        if to is not None:
            if expect is not None and status not in expect:
                return None
            check_run_transition(status, to)
            sets["status"] = RunStatus(to)
        if delivery is not None and same_delivery_ok and delivery == current_delivery:
            delivery = None
        if delivery is not None:
            if expect_delivery is not None and current_delivery not in expect_delivery:
                return None
            check_delivery_transition(current_delivery, delivery)
            sets["delivery_status"] = DeliveryStatus(delivery)
        self._update("runs", run_id, sets)
        after = self.get("runs", run_id)
        if after is not None and ("status" in sets or "delivery_status" in sets):
            self.changes.append(RunChange(status, current_delivery, after))
        return after

    def fail_unfinished_runs(self, now_iso: str, message: str) -> list[Row]:
        """Runs a dead daemon left unfinished become failed, their pending deliveries too
        (crash safety): the bulk form of ``transition_run``, checked against the same
        tables. Returns the runs it failed, as they are now (for their outbox rows, in
        the same write)."""
        unfinished = sorted(sources_of(RunStatus.FAILED))
        check_delivery_transition(DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        marks = ", ".join("?" for _ in unfinished)
        return self._all(
            "runs",
            "UPDATE runs SET status = ?, error = ?, completed_at = ?, "
            "delivery_status = CASE WHEN delivery_status = ? THEN ? "
            "ELSE delivery_status END "
            f"WHERE status IN ({marks}) RETURNING *",
            [RunStatus.FAILED, message, now_iso, DeliveryStatus.PENDING, DeliveryStatus.FAILED,
             *unfinished],
        )

    def stats(self) -> Row:
        tasks = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'active'), 0) FROM tasks"
        ).fetchone()
        runs = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = ?), 0), "
            "COALESCE(SUM(status = ?), 0), COALESCE(SUM(tokens_used), 0), "
            "COALESCE(SUM(cost_cents), 0) FROM runs", [RunStatus.COMPLETED, RunStatus.FAILED]
        ).fetchone()
        return {
            "totalTasks": tasks[0], "activeTasks": tasks[1], "totalRuns": runs[0],
            "successfulRuns": runs[1], "failedRuns": runs[2], "totalTokensUsed": runs[3],
            "totalCostCents": runs[4],
        }

    def run_usage_since(self, since_iso: str) -> list[tuple[str, str, int, float]]:
        """(createdAt, status, tokens, cents) of every run created since then, oldest
        first: the dashboard buckets them into days of the config's zone."""
        rows = self.conn.execute(
            "SELECT created_at, status, COALESCE(tokens_used, 0), COALESCE(cost_cents, 0) "
            "FROM runs WHERE created_at >= ? ORDER BY created_at", [since_iso],
        ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    def usage_since(self, since_iso: str) -> tuple[int, float]:
        """(runs, cents) created since then. A run refused before it started (budget
        exceeded; failed with no ``started_at``) is not a run used."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(status != ? OR started_at IS NOT NULL), 0), "
            "COALESCE(SUM(cost_cents), 0) FROM runs WHERE created_at >= ?",
            [RunStatus.FAILED, since_iso],
        ).fetchone()
        return int(row[0]), float(row[1])


def _link_table(kind: str) -> tuple[str, str]:
    if kind == "skills":
        return "task_skills", "skill_id"
    if kind == "sources":
        return "task_sources", "source_id"
    raise ValueError(kind)


def open_store(path: Path) -> Store:
    """Open (creating if needed) the database and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(_connect(path, readonly=False))
    migrate(store.db)
    store.organization_id()
    return store


# a queued write; and its answer: (result, changes) once committed, or the exception
_Queued = tuple[Callable[["Store"], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Answer = tuple["asyncio.Future[Any]", "tuple[Any, list[Change]] | None", "BaseException | None"]


def _settable(error: BaseException | None) -> BaseException:
    """What a write's future is failed with: its exception, but a StopIteration as a
    RuntimeError, as asyncio does for a coroutine — a Future refuses a StopIteration
    (TypeError), which left the caller and every answer after it in the batch unanswered."""
    if error is None:
        return RuntimeError("a write ended without a result or an exception")
    if isinstance(error, StopIteration):
        wrapped = RuntimeError("a write raised StopIteration")
        wrapped.__cause__ = error
        return wrapped
    return error


class AsyncStore:
    """Coroutine façade: ``await store.write(fn)`` / ``await store.read(fn)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="promptlyd-db-w")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="promptlyd-db-r")
        self._checkpoint_pool = ThreadPoolExecutor(1, thread_name_prefix="promptlyd-db-c")
        self._checkpointer: sqlite3.Connection | None = None
        self._since_checkpoint = 0
        self._local = threading.local()
        self._writer: Store | None = None
        self._reader: Store | None = None
        # writes waiting for the writer thread: (fn, its future, the loop to answer on)
        self._queue: collections.deque[_Queued] = collections.deque()
        self.reads = 0  # transactions run, for /health and the idle benchmark
        self.writes = 0
        # told each committed write's changes, on the event loop (the event bus)
        self.on_change: Callable[[list[Change]], None] | None = None

    def open(self) -> None:
        """Open both connections (blocking; call once before serving)."""
        self._writer = self._writer_pool.submit(open_store, self.path).result()
        self._reader = self._reader_pool.submit(
            lambda: Store(_connect(self.path, readonly=True))
        ).result()

    @property
    def writer(self) -> Store:
        assert self._writer is not None, "AsyncStore.open() first"
        return self._writer

    def _write_sync(self, fn: Callable[[Store], T]) -> T:
        return self._write_noting(fn)[0]

    def _write_noting(self, fn: Callable[[Store], T]) -> tuple[T, list[Change]]:
        store = self.writer
        store.changes = []
        store.conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(store)
            store.conn.execute("COMMIT")
        except BaseException:
            store.changes = []
            if store.conn.in_transaction:  # SQLite may have rolled back already
                store.conn.execute("ROLLBACK")
            raise
        changes, store.changes = store.changes, []
        return result, changes

    def _drain(self) -> None:
        """On the writer thread: every queued write in one transaction (see the module's
        docstring), then the answers handed to their loop in one call."""
        batch: list[_Queued] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        if len(batch) == 1:
            fn, future, _ = batch[0]
            try:
                answers: list[_Answer] = [(future, self._write_noting(fn), None)]
            except BaseException as exc:
                answers = [(future, None, exc)]
        else:
            try:
                answers = self._write_batch(batch)
            except BaseException as exc:  # even the rollback failed: none of it stands
                answers = [(future, None, exc) for _, future, _ in batch]
        loops: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
        for (_, _, loop), answer in zip(batch, answers, strict=True):
            loops.setdefault(loop, []).append(answer)
        for loop, theirs in loops.items():
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody is waiting
                loop.call_soon_threadsafe(self._answer, theirs)

    def _write_batch(self, batch: list[_Queued]) -> list[_Answer]:
        store = self.writer
        answers: list[_Answer] = []
        try:
            store.conn.execute("BEGIN IMMEDIATE")
            for fn, future, _ in batch:
                store.changes = []
                store.conn.execute("SAVEPOINT write")
                try:
                    result = fn(store)
                except Exception as exc:
                    store.conn.execute("ROLLBACK TO write")
                    store.conn.execute("RELEASE write")
                    answers.append((future, None, exc))
                    continue
                store.conn.execute("RELEASE write")
                answers.append((future, (result, store.changes), None))
            store.conn.execute("COMMIT")
        except BaseException:
            # the transaction itself failed (the commit, or a rollback SQLite had already
            # made): nothing of the batch stands — each write again, on its own
            store.changes = []
            if store.conn.in_transaction:
                store.conn.execute("ROLLBACK")
            answers = []
            for fn, future, _ in batch:
                try:
                    answers.append((future, self._write_noting(fn), None))
                except BaseException as exc:
                    answers.append((future, None, exc))
        finally:
            store.changes = []
        return answers

    def _answer(self, answers: list[_Answer]) -> None:
        """On the loop: tell each committed write's changes, in commit order, then wake
        its caller (one that gave up waiting still had its write committed)."""
        for future, done, error in answers:
            if done is not None:
                result, changes = done
                if changes and self.on_change is not None:
                    try:
                        self.on_change(changes)
                    except Exception:  # telling must never undo or hide a committed write
                        log.exception("telling the changes of a write failed")
                if not future.done():
                    future.set_result(result)
            elif not future.done():
                future.set_exception(_settable(error))

    def _read_sync(self, fn: Callable[[Store], T]) -> T:
        assert self._reader is not None, "AsyncStore.open() first"
        store = self._reader
        store.conn.execute("BEGIN")
        try:
            return fn(store)
        finally:
            if store.conn.in_transaction:
                store.conn.execute("COMMIT")

    async def write(self, fn: Callable[[Store], T]) -> T:
        self.writes += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, future, loop))
        self._writer_pool.submit(self._drain)  # finds the queue empty if a batch took it
        try:
            return cast(T, await future)
        finally:
            self._since_checkpoint += 1
            if self._since_checkpoint >= CHECKPOINT_EVERY:
                self._since_checkpoint = 0
                self._checkpoint_pool.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """PASSIVE: copies what it can without blocking the writer or the readers."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(str(self.path), isolation_level=None,
                                                 check_same_thread=False)
        with contextlib.suppress(sqlite3.OperationalError):  # busy: the next one catches up
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def stream(self, fn: Callable[[Store], Iterator[T]]) -> AsyncGenerator[T, None]:
        """What ``fn`` yields, as it yields it: ``fn`` runs on the reader thread inside
        one read transaction (one snapshot) while the caller already uses what came.
        Leaving the loop early stops ``fn`` at its next item."""
        self.reads += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
        stop = threading.Event()

        def post(done: bool, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(queue.put_nowait, (done, value))

        def produce(store: Store) -> None:
            for item in fn(store):
                if stop.is_set():
                    return
                post(False, item)

        def run() -> None:
            try:
                self._read_sync(produce)
            except BaseException as exc:
                post(True, exc)
            else:
                post(True, None)

        loop.run_in_executor(self._reader_pool, run)
        try:
            while True:
                done, value = await queue.get()
                if not done:
                    yield value
                elif value is not None:
                    raise value
                else:
                    return
        finally:
            stop.set()

    async def read(self, fn: Callable[[Store], T]) -> T:
        self.reads += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, self._read_sync, fn)

    def write_blocking(self, fn: Callable[[Store], T]) -> T:
        return self._writer_pool.submit(self._write_sync, fn).result()

    def close(self) -> None:
        self._checkpoint_pool.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        for store, pool in ((self._reader, self._reader_pool), (self._writer, self._writer_pool)):
            if store is not None:
                pool.submit(store.conn.close).result()
            pool.shutdown(wait=True)
        self._reader = self._writer = None
