"""The store's run entry points: one insert, one transition function that checks the
table (refusing an illegal change and changing nothing), and the bulk crash recovery."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptlyd.errors import NotFound
from promptlyd.runs.create import new_run
from promptlyd.runs.states import (
    INTERRUPTED,
    DeliveryStatus,
    IllegalTransition,
    RunStatus,
    Trigger,
)
from promptlyd.store import Store, open_store
from promptlyd.timeutil import iso

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "p.db")
    yield s
    s.conn.close()


def add_task(store: Store) -> str:
    task_id = str(uuid.uuid4())
    store.insert("tasks", {"id": task_id, "name": "t", "prompt": "p", "model": "ollama/x",
                           "schedule": "daily", "timezone": "UTC", "status": "active",
                           "anchor_at": iso(NOW), "created_at": iso(NOW),
                           "updated_at": iso(NOW)})
    return task_id


def dump(store: Store) -> list[str]:
    return list(store.conn.iterdump())


def test_insert_run_serves_a_slot_once_and_knows_a_missing_task(store: Store) -> None:
    task = add_task(store)
    first = new_run(task, trigger=Trigger.SCHEDULE, now=NOW, scheduled_for=NOW)
    assert store.insert_run(first) is True
    again = new_run(task, trigger=Trigger.CATCHUP, now=NOW, scheduled_for=NOW)
    assert store.insert_run(again) is False  # the UNIQUE (task, slot)
    assert [r["id"] for r in store.list_runs(task_id=task)] == [first["id"]]
    # manual runs have no slot: any number of them
    assert store.insert_run(new_run(task, trigger=Trigger.MANUAL, now=NOW))
    assert store.insert_run(new_run(task, trigger=Trigger.MANUAL, now=NOW))
    with pytest.raises(NotFound, match="no task with id"):
        store.insert_run(new_run("gone", trigger=Trigger.MANUAL, now=NOW))


def test_insert_run_refuses_a_status_a_run_cannot_start_in(store: Store) -> None:
    task = add_task(store)
    run = new_run(task, trigger=Trigger.MANUAL, now=NOW) | {"status": RunStatus.COMPLETED}
    before = dump(store)
    with pytest.raises(IllegalTransition, match="from \\(new\\) to completed"):
        store.insert_run(run)
    assert dump(store) == before


def test_a_run_walks_the_table(store: Store) -> None:
    task = add_task(store)
    run = new_run(task, trigger=Trigger.MANUAL, now=NOW)
    store.insert_run(run)
    row = store.transition_run(run["id"], RunStatus.RUNNING, {"started_at": iso(NOW)})
    assert row is not None and row["status"] == "running" and row["started_at"] == iso(NOW)
    row = store.transition_run(run["id"], RunStatus.COMPLETED, {"output": "hi"},
                               delivery=DeliveryStatus.PENDING)
    assert row is not None and row["status"] == "completed"
    assert row["delivery_status"] == "pending" and row["output"] == "hi"
    row = store.transition_run(run["id"], delivery=DeliveryStatus.DELIVERED,
                               changes={"deliveries": [{"ok": True}]})
    assert row is not None and row["delivery_status"] == "delivered"
    assert row["deliveries"] == [{"ok": True}]


@pytest.mark.parametrize(("setup", "to", "delivery"), [
    ([], RunStatus.COMPLETED, None),  # pending → completed skips running
    ([RunStatus.RUNNING, RunStatus.FAILED], RunStatus.RUNNING, None),  # failed is final
    ([RunStatus.RUNNING], RunStatus.PENDING, None),  # never back to pending
    ([], None, DeliveryStatus.FAILED),  # no delivery was pending
    # a legal status with an illegal delivery: neither is applied
    ([RunStatus.RUNNING], RunStatus.COMPLETED, DeliveryStatus.FAILED),
])
def test_an_illegal_transition_is_refused_and_changes_nothing(
        store: Store, setup: list[RunStatus], to: RunStatus | None,
        delivery: DeliveryStatus | None) -> None:
    task = add_task(store)
    run = new_run(task, trigger=Trigger.MANUAL, now=NOW)
    store.insert_run(run)
    for step in setup:
        store.transition_run(run["id"], step)
    before = dump(store)
    with pytest.raises(IllegalTransition, match="cannot go from"):
        store.transition_run(run["id"], to, {"output": "should not land"}, delivery=delivery)
    assert dump(store) == before


def test_expect_skips_a_run_that_moved_on(store: Store) -> None:
    task = add_task(store)
    run = new_run(task, trigger=Trigger.MANUAL, now=NOW)
    store.insert_run(run)
    store.transition_run(run["id"], RunStatus.RUNNING)
    store.transition_run(run["id"], RunStatus.COMPLETED, delivery=DeliveryStatus.PENDING)
    before = dump(store)
    # shutdown's interrupt: the run finished meanwhile, so only the delivery fails
    assert store.transition_run(run["id"], RunStatus.FAILED, {"error": INTERRUPTED},
                                expect={RunStatus.PENDING, RunStatus.RUNNING}) is None
    assert dump(store) == before
    row = store.transition_run(run["id"], delivery=DeliveryStatus.FAILED,
                               expect_delivery={DeliveryStatus.PENDING})
    assert row is not None and row["status"] == "completed" and row["error"] is None
    assert row["delivery_status"] == "failed"
    assert store.transition_run("no-such-run", RunStatus.FAILED) is None


def test_status_columns_change_only_through_transition_run(store: Store) -> None:
    task = add_task(store)
    run = new_run(task, trigger=Trigger.MANUAL, now=NOW)
    store.insert_run(run)
    before = dump(store)
    with pytest.raises(ValueError, match="transition_run"):
        store.update("runs", run["id"], {"status": "completed", "output": "x"})
    with pytest.raises(ValueError, match="transition_run"):
        store.update("runs", run["id"], {"delivery_status": "delivered"})
    with pytest.raises(ValueError, match="not in changes"):
        store.transition_run(run["id"], RunStatus.RUNNING, {"status": "completed"})
    assert dump(store) == before
    assert store.update("runs", run["id"], {"output": "other columns are fine"})


def test_fail_unfinished_runs_follows_the_table(store: Store) -> None:
    task = add_task(store)
    runs = {s: new_run(task, trigger=Trigger.MANUAL, now=NOW) for s in ("p", "r", "c", "d")}
    for run in runs.values():
        store.insert_run(run)
    store.transition_run(runs["r"]["id"], RunStatus.RUNNING)
    for key in ("c", "d"):
        store.transition_run(runs[key]["id"], RunStatus.RUNNING)
        store.transition_run(runs[key]["id"], RunStatus.COMPLETED,
                             delivery=DeliveryStatus.PENDING)
    store.transition_run(runs["d"]["id"], delivery=DeliveryStatus.DELIVERED)
    failed = store.fail_unfinished_runs(iso(NOW), INTERRUPTED)
    assert sorted(r["id"] for r in failed) == sorted(runs[k]["id"] for k in ("p", "r"))
    assert {r["status"] for r in failed} == {"failed"}  # the rows as they are now
    rows = {k: store.get("runs", r["id"]) for k, r in runs.items()}
    assert rows["p"] and rows["p"]["status"] == "failed" and rows["p"]["error"] == INTERRUPTED
    assert rows["r"] and rows["r"]["status"] == "failed"
    assert rows["c"] and rows["c"]["status"] == "completed"
    assert rows["c"]["delivery_status"] == "pending"  # finished runs are left as they are
    assert rows["d"] and rows["d"]["delivery_status"] == "delivered"


def test_usage_does_not_count_runs_refused_before_they_started(store: Store) -> None:
    task = add_task(store)
    ran = new_run(task, trigger=Trigger.SCHEDULE, now=NOW, scheduled_for=NOW, claimed=True)
    waiting = new_run(task, trigger=Trigger.MANUAL, now=NOW)
    refused = new_run(task, trigger=Trigger.MANUAL, now=NOW, refused="budget exceeded")
    for run in (ran, waiting, refused):
        store.insert_run(run)
    store.transition_run(ran["id"], RunStatus.COMPLETED, {"cost_cents": 1.5})
    assert store.usage_since(iso(NOW)) == (2, 1.5)  # the one that ran and the one waiting


def test_savepoint_rolls_back_only_its_own_work(store: Store) -> None:
    store.conn.execute("BEGIN")
    store.set_meta("outer", "kept")
    with pytest.raises(sqlite3.IntegrityError), store.savepoint("inner"):
        store.set_meta("inner", "gone")
        store.insert("tasks", {"id": "x"})  # NOT NULL columns missing
    with store.savepoint("next"):
        store.set_meta("next", "kept")
    store.conn.execute("COMMIT")
    assert (store.meta("outer"), store.meta("inner"), store.meta("next")) == (
        "kept", None, "kept")
    with pytest.raises(ValueError, match="identifiers"), store.savepoint("no; DROP TABLE runs"):
        pass


def test_latest_runs_is_the_newest_run_of_each_task_as_list_runs_orders_them(
        store: Store) -> None:
    busy, idle, never = add_task(store), add_task(store), add_task(store)
    for minutes, task in ((1, busy), (3, busy), (2, busy), (5, idle)):
        store.insert_run(new_run(task, trigger=Trigger.MANUAL,
                                 now=NOW.replace(minute=minutes)))
    twin_a = new_run(idle, trigger=Trigger.MANUAL, now=NOW.replace(minute=5))  # same instant
    store.insert_run(twin_a)
    latest = store.latest_runs()
    assert set(latest) == {busy, idle} and never not in latest  # no runs: no entry
    for task in (busy, idle):
        assert latest[task] == store.list_runs(task_id=task, limit=1)[0]
    assert latest[busy]["created_at"] == iso(NOW.replace(minute=3))
