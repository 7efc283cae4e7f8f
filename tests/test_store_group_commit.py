"""Group commit in ``AsyncStore.write``: the writes queued while the writer thread is busy
share one transaction, a savepoint each.

Batching is made deterministic by holding the writer thread (a job on its pool that
waits for an event) while the writes queue up behind it; the writer connection's
statement trace shows how many transactions they took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptlyd.store import AsyncStore
from promptlyd.store.db import Change, RowChange, Store

STAMP = "2026-12-01T07:30:00.000Z"
Write = Callable[[Store], Any]


class Boom(Exception):
    pass


@pytest.fixture
def told(store: AsyncStore) -> list[str]:
    """The ids of the rows whose changes ``on_change`` was told, in the order told."""
    ids: list[str] = []

    def on_change(changes: list[Change]) -> None:
        ids.extend(c.row_id for c in changes if isinstance(c, RowChange))

    store.on_change = on_change
    return ids


def skill(sid: str, slug: str | None = None) -> dict[str, Any]:
    return {"id": sid, "slug": slug or sid, "name": sid.upper(), "content": "c",
            "created_at": STAMP, "updated_at": STAMP}


def add(sid: str, calls: list[str] | None = None) -> Write:
    """A write inserting skill ``sid`` that returns ``sid`` (and notes each call)."""
    def fn(s: Store) -> str:
        if calls is not None:
            calls.append(sid)
        s.insert("skills", skill(sid))
        return sid
    return fn


def add_then_raise(sid: str, error: BaseException, slug: str | None = None) -> Write:
    def fn(s: Store) -> None:
        s.insert("skills", skill(sid, slug))
        raise error
    return fn


@dataclass
class Batch:
    tasks: list[asyncio.Task[Any]]  # the callers, one per write
    traced: list[str]  # the writer connection's statements, from the hold on

    def count(self, sql: str) -> int:
        return sum(1 for s in self.traced if s == sql)


@contextlib.asynccontextmanager
async def batched(store: AsyncStore, writes: Sequence[Write]) -> AsyncIterator[Batch]:
    """The writes queued behind a held writer thread; it is let go when the block ends."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30)

    held = store._writer_pool.submit(hold)
    try:
        assert await asyncio.to_thread(started.wait, 10), "the writer thread never got free"
        batch = Batch([], [])
        store.writer.conn.set_trace_callback(batch.traced.append)  # its thread is parked
        batch.tasks.extend(asyncio.create_task(store.write(fn)) for fn in writes)
        async with asyncio.timeout(10):
            while len(store._queue) < len(writes):  # each task runs up to its await
                await asyncio.sleep(0)
        yield batch
    finally:
        release.set()
        await asyncio.wrap_future(held)


async def results(tasks: Sequence[asyncio.Task[Any]]) -> list[Any]:
    async with asyncio.timeout(10):  # a caller never answered fails here, not by hanging
        return await asyncio.gather(*tasks, return_exceptions=True)


def skill_ids(path: Path) -> list[str]:
    """The skills committed, read through a connection of our own."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM skills ORDER BY id")]


async def test_queued_writes_share_one_transaction_and_each_gets_its_result(
        store: AsyncStore, told: list[str]) -> None:
    ids = [f"s{i}" for i in range(5)]
    async with batched(store, [add(i) for i in ids]) as batch:
        pass
    assert await results(batch.tasks) == ids
    assert batch.count("BEGIN IMMEDIATE") == 1
    assert batch.count("COMMIT") == 1
    assert batch.count("SAVEPOINT write") == 5
    assert told == ids  # in commit order, once each
    assert skill_ids(store.path) == ids
    assert await store.read(lambda s: s.get("skills", "s4")) is not None


async def test_a_write_that_raises_rolls_back_only_itself(
        store: AsyncStore, told: list[str]) -> None:
    boom = Boom("no")

    def takes_the_slug(s: Store) -> str:  # the failed write's row is gone by then
        s.insert("skills", skill("s3", slug="taken"))
        return "s3"

    writes = [add("s0"), add("s1"), add_then_raise("bad", boom, slug="taken"),
              takes_the_slug, add("s4")]
    async with batched(store, writes) as batch:
        pass
    got = await results(batch.tasks)
    assert got[2] is boom  # its own exception, as raised
    assert [got[0], got[1], got[3], got[4]] == ["s0", "s1", "s3", "s4"]
    assert skill_ids(store.path) == ["s0", "s1", "s3", "s4"]
    assert told == ["s0", "s1", "s3", "s4"]  # nothing of the failed write
    assert batch.count("BEGIN IMMEDIATE") == 1  # the others were not run again
    assert batch.count("ROLLBACK TO write") == 1
    assert batch.count("COMMIT") == 1


async def test_a_caller_cancelled_while_queued_still_has_its_write_committed(
        store: AsyncStore, told: list[str]) -> None:
    async with batched(store, [add("gone"), add("s1")]) as batch:
        batch.tasks[0].cancel()
        async with asyncio.timeout(10):
            with pytest.raises(asyncio.CancelledError):
                await batch.tasks[0]
    assert await results(batch.tasks[1:]) == ["s1"]
    assert skill_ids(store.path) == ["gone", "s1"]
    assert told == ["gone", "s1"]


async def test_a_commit_that_fails_runs_each_write_again_on_its_own(
        store: AsyncStore, told: list[str]) -> None:
    calls: list[str] = []

    def dangling(s: Store) -> None:
        # a link to a task that does not exist, its check deferred to COMMIT: the
        # batch's COMMIT fails, after every write in it has succeeded
        calls.append("bad")
        s.insert("skills", skill("bad"))
        s.conn.execute("PRAGMA defer_foreign_keys = ON")
        s.conn.execute("INSERT INTO task_skills (task_id, skill_id, position) "
                       "VALUES ('no-such-task', 'bad', 0)")

    async with batched(store, [add("s0", calls), dangling, add("s2", calls)]) as batch:
        pass
    got = await results(batch.tasks)
    assert got[0] == "s0" and got[2] == "s2"
    assert isinstance(got[1], sqlite3.IntegrityError) and "FOREIGN KEY" in str(got[1])
    assert skill_ids(store.path) == ["s0", "s2"]
    assert told == ["s0", "s2"]  # once each: the failed batch told nothing
    # one batch, then one transaction per write; the bad one's own COMMIT fails too
    assert batch.count("BEGIN IMMEDIATE") == 1 + 3
    assert batch.count("COMMIT") == 1 + 3
    assert calls == ["s0", "bad", "s2"] * 2  # every write ran twice (the first run undone)
    assert await store.write(lambda s: s.count("SELECT COUNT(*) FROM task_skills")) == 0


async def test_a_write_sqlite_rolls_back_whole_runs_the_others_again_on_their_own(
        store: AsyncStore, told: list[str]) -> None:
    # RAISE(ROLLBACK) ends the whole transaction, as SQLite does itself on a full
    # disk: the failed write's savepoint is gone with it
    store.write_blocking(lambda s: s.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON skills WHEN NEW.slug = 'refused' "
        "BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END"))

    def refused(s: Store) -> None:
        s.insert("skills", skill("bad", slug="refused"))

    async with batched(store, [add("s0"), refused, add("s2")]) as batch:
        pass
    got = await results(batch.tasks)
    assert got[0] == "s0" and got[2] == "s2"
    assert isinstance(got[1], sqlite3.IntegrityError)
    assert "refused by a trigger" in str(got[1])
    assert skill_ids(store.path) == ["s0", "s2"]
    assert told == ["s0", "s2"]
    assert batch.count("BEGIN IMMEDIATE") == 1 + 3


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-a-batch"])
async def test_a_write_raising_stopiteration_fails_only_its_own_caller(
        store: AsyncStore, told: list[str], alone: bool) -> None:
    # A Future refuses a StopIteration (TypeError): set on the loop as it is, the
    # answers after it were never given and their callers hung, committed or not
    def stops(s: Store) -> None:
        s.insert("skills", skill("bad"))
        next(iter(()))

    writes = [stops] if alone else [add("s0"), stops, add("s2")]
    async with batched(store, writes) as batch:
        pass
    got = await results(batch.tasks)
    bad = got[0] if alone else got[1]
    assert isinstance(bad, RuntimeError) and isinstance(bad.__cause__, StopIteration)
    expected = [] if alone else ["s0", "s2"]
    if not alone:
        assert [got[0], got[2]] == expected
    assert skill_ids(store.path) == expected
    assert told == expected


async def test_a_failing_listener_hides_no_write_of_the_batch(
        store: AsyncStore, caplog: pytest.LogCaptureFixture) -> None:
    heard: list[str] = []

    def on_change(changes: list[Change]) -> None:
        ids = [c.row_id for c in changes if isinstance(c, RowChange)]
        heard.extend(ids)
        if "s0" in ids:
            raise RuntimeError("listener bug")

    store.on_change = on_change
    with caplog.at_level(logging.ERROR, logger="promptlyd.store"):
        async with batched(store, [add("s0"), add("s1")]) as batch:
            pass
        assert await results(batch.tasks) == ["s0", "s1"]
    assert heard == ["s0", "s1"]
    assert "telling the changes of a write failed" in caplog.text
    assert skill_ids(store.path) == ["s0", "s1"]


async def test_writes_from_many_tasks_all_commit_once(
        store: AsyncStore, told: list[str]) -> None:
    # no holding: whatever batches form, every write lands exactly once
    ids = [f"s{i:03d}" for i in range(200)]
    async with asyncio.timeout(60):
        got = await asyncio.gather(*(store.write(add(i)) for i in ids))
    assert got == ids
    assert sorted(told) == ids and len(told) == len(ids)
    assert skill_ids(store.path) == ids


@pytest.fixture(autouse=True)
def _no_leftover_transaction(store: AsyncStore) -> Iterator[None]:
    yield
    # every test leaves the writer connection outside a transaction
    assert store._writer_pool.submit(lambda: store.writer.conn.in_transaction).result() is False


async def test_a_batch_whose_rollback_fails_too_answers_every_caller(tmp_path: Path) -> None:
    # the connection itself breaks inside a write (closed here; a vanished disk alike):
    # the batch, its rollback and every re-run fail — each caller hears so, none hangs
    broken = AsyncStore(tmp_path / "b.db")
    broken.open()

    def breaks(s: Store) -> None:
        s.conn.close()

    async with batched(broken, [add("s0"), breaks, add("s2")]) as batch:
        pass
    got = await results(batch.tasks)
    assert all(isinstance(g, sqlite3.ProgrammingError) for g in got), got
    assert skill_ids(broken.path) == []
    with contextlib.suppress(sqlite3.Error):
        broken.close()
