"""``GET /tasks`` streamed a page at a time, and ``AsyncStore.stream`` under it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from promptlyd.api.tasks import LIST_PAGE
from promptlyd.store.db import AsyncStore, Store
from tests.bench.common import seed_tasks
from tests.daemon_proc import DaemonProcess
from tests.rows import db_path

WAIT = 30.0  # generous: a condition is waited for, never a fixed time


# --- over the socket ------------------------------------------------------------------

@pytest.fixture
def big(daemon_factory: Any) -> tuple[DaemonProcess, list[str]]:
    """A daemon whose database holds 2.5 pages of tasks sharing one created_at (a bulk
    import's), written before it starts."""
    d: DaemonProcess = daemon_factory()
    d.start()
    d.stop()  # the database exists, migrated
    ids = seed_tasks(db_path(d), LIST_PAGE * 2 + LIST_PAGE // 2, prefix="bulk")
    d.start()
    return d, ids


def test_a_list_longer_than_a_page_streams_every_task_in_creation_order(
    big: tuple[DaemonProcess, list[str]],
) -> None:
    d, ids = big
    with d.client() as api:
        skill = api.post("/api/promptly/skills", json={"name": "Terse", "content": "Be brief."})
        assert skill.status_code == 201, skill.text
        middle = ids[LIST_PAGE + 7]  # on the second page
        attached = api.post(f"/api/promptly/tasks/{middle}/skills",
                            json={"skillId": skill.json()["id"]})
        assert attached.status_code == 204, attached.text
        late = api.post("/api/promptly/tasks", json={"name": "late", "prompt": "p"}).json()
        r = api.get("/api/promptly/tasks", params={"limit": 10000})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers.get("transfer-encoding") == "chunked"
        tasks = r.json()
        # same created_at: the order they were written in; the later one last
        assert [t["id"] for t in tasks] == [*ids, late["id"]]
        by_id = {t["id"]: t for t in tasks}
        assert by_id[middle]["skillIds"] == [skill.json()["id"]]
        assert by_id[middle]["skills"][0]["name"] == "Terse"
        assert by_id[middle] == api.get(f"/api/promptly/tasks/{middle}").json()
        assert by_id[ids[0]] == api.get(f"/api/promptly/tasks/{ids[0]}").json()
        cut = api.get("/api/promptly/tasks", params={"limit": LIST_PAGE + 1}).json()
        assert [t["id"] for t in cut] == ids[:LIST_PAGE + 1]


def test_a_short_list_is_one_plain_answer(api: httpx.Client) -> None:
    made = [api.post("/api/promptly/tasks", json={"name": f"t{i}", "prompt": "p"}).json()
            for i in range(3)]
    r = api.get("/api/promptly/tasks")
    assert r.headers.get("content-length") == str(len(r.content))
    assert "transfer-encoding" not in r.headers
    assert [t["id"] for t in r.json()] == [t["id"] for t in made]
    empty = api.get("/api/promptly/tasks", params={"limit": 0})
    assert empty.status_code in (200, 400)  # whatever limit=0 means, it is answered whole
    assert "transfer-encoding" not in empty.headers


def test_bad_input_is_refused_before_any_byte_is_streamed(
    big: tuple[DaemonProcess, list[str]],
) -> None:
    d, _ = big
    with d.client() as api:
        r = api.get("/api/promptly/tasks", params={"limit": "lots"})
        assert r.status_code == 400
        assert r.json()["error"]["field"] == "limit"
        assert "transfer-encoding" not in r.headers


def test_a_client_leaving_mid_list_leaves_the_daemon_answering(
    big: tuple[DaemonProcess, list[str]],
) -> None:
    d, ids = big
    for _ in range(5):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(WAIT)
            s.connect(str(d.socket_path))
            s.sendall(b"GET /api/promptly/tasks?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
        # closed with most of the answer unread
    with d.client(timeout=WAIT) as api:
        assert api.get(f"/api/promptly/tasks/{ids[-1]}").status_code == 200
        assert len(api.get("/api/promptly/tasks", params={"limit": 10000}).json()) == len(ids)


# --- AsyncStore.stream ------------------------------------------------------------------

# (the ``store`` fixture: tests/conftest.py)

def count_tasks(s: Store) -> int:
    return int(s.count("SELECT COUNT(*) FROM tasks"))


async def test_items_reach_the_caller_while_the_producer_is_still_going(
    store: AsyncStore,
) -> None:
    went_on = threading.Event()

    def produce(s: Store) -> Iterator[int]:
        yield 1
        # only a caller that already has item 1 can let this through
        assert went_on.wait(WAIT), "the first item was held back until the end"
        yield 2

    got = []
    async for item in store.stream(produce):
        got.append(item)
        went_on.set()
    assert got == [1, 2]


async def test_the_stream_reads_one_snapshot(store: AsyncStore) -> None:
    seed_tasks(store.path, 3)
    written = threading.Event()

    def produce(s: Store) -> Iterator[int]:
        yield count_tasks(s)
        assert written.wait(WAIT)
        yield count_tasks(s)  # the same transaction: the new task is not seen

    counts = []
    async for n in store.stream(produce):
        counts.append(n)
        if len(counts) == 1:
            seed_more = await asyncio.to_thread(seed_tasks, store.path, 2)
            assert len(seed_more) == 2
            written.set()
    assert counts == [3, 3]
    assert await store.read(count_tasks) == 5


async def test_an_error_in_the_producer_reaches_the_caller_after_what_came(
    store: AsyncStore,
) -> None:
    def produce(s: Store) -> Iterator[str]:
        yield "first"
        raise LookupError("page two is gone")

    got = []
    with pytest.raises(LookupError, match="page two is gone"):
        async for item in store.stream(produce):
            got.append(item)
    assert got == ["first"]
    assert await store.read(count_tasks) == 0  # the reader is free again


async def test_leaving_early_stops_the_producer(store: AsyncStore) -> None:
    asked: list[int] = []
    taken = threading.Event()

    def produce(s: Store) -> Iterator[int]:
        for i in range(1000):
            asked.append(i)
            yield i
            if i == 0:
                assert taken.wait(WAIT)

    stream = store.stream(produce)
    async for _ in stream:
        break
    await stream.aclose()
    taken.set()
    assert await store.read(count_tasks) == 0  # queued behind the producer: it ended
    assert len(asked) <= 2  # the item in hand when it was told, at most one more
