"""Live events: the bus (bounded queues, drops told in order), what a write means, the
SSE wire format — and the real daemon streaming a run's events as they happen."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptlyd.client import Promptly
from promptlyd.client.events import LiveEvent, parse_sse
from promptlyd.errors import ValidationError
from promptlyd.events import IDLE, Dropped, Event, EventBus, sse
from promptlyd.events.changes import events_of
from promptlyd.runs.states import DeliveryStatus, RunStatus
from promptlyd.store.db import RowChange, RunChange
from tests.daemon_proc import DaemonProcess, wait_for
from tests.fakes.model_servers import OpenAIServer, reply, running, slow

RUN = {"id": "r1", "task_id": "t1", "trigger": "manual", "status": "pending"}


# --- the bus ---------------------------------------------------------------------------


def test_subscribers_get_what_they_asked_for_in_order() -> None:
    async def go() -> None:
        bus = EventBus()
        runs = bus.subscribe({"run.created", "run.completed"})
        everything = bus.subscribe()
        bus.publish("run.created", {"runId": "a"})
        bus.publish("task.created", {"taskId": "t"})
        bus.publish("run.completed", {"runId": "a"})
        got = [await runs.next(1), await runs.next(1)]
        assert [e.type for e in got if isinstance(e, Event)] == ["run.created", "run.completed"]
        assert [e.seq for e in got if isinstance(e, Event)] == [1, 3]
        assert runs.pending == 0 and everything.pending == 3
        first = await everything.next(1)
        assert isinstance(first, Event) and first.data["runId"] == "a"
        assert first.data["type"] == "run.created" and first.data["at"].endswith("Z")

    asyncio.run(go())


def test_a_full_queue_drops_and_says_so_where_the_gap_is() -> None:
    async def go() -> None:
        bus = EventBus()
        sub = bus.subscribe(maxsize=2)
        for n in range(5):
            bus.publish("run.created", {"n": n})  # never blocks, never fails
        assert sub.pending == 3 and sub.dropped == 3 and bus.dropped == 3
        bus.publish("run.created", {"n": 5})  # still full: counted in the same marker
        items = [await sub.next(1) for _ in range(3)]
        assert [i.data["n"] for i in items[:2] if isinstance(i, Event)] == [0, 1]
        assert isinstance(items[2], Dropped) and items[2].count == 4
        bus.publish("run.created", {"n": 6})  # room again: delivered after the gap
        after = await sub.next(1)
        assert isinstance(after, Event) and after.data["n"] == 6

    asyncio.run(go())


def test_idle_then_closed_ends_the_stream_after_what_was_queued() -> None:
    async def go() -> None:
        bus = EventBus()
        sub = bus.subscribe()
        assert await sub.next(0.01) is IDLE
        bus.publish("task.deleted", {"taskId": "t"})
        bus.close()
        assert isinstance(await sub.next(1), Event)
        assert await sub.next(1) is None
        assert bus.subscribers == 0
        late = bus.subscribe()
        assert late.closed and await late.next(1) is None

    asyncio.run(go())


def test_a_waiting_subscriber_is_woken_by_close() -> None:
    async def go() -> None:
        bus = EventBus()
        sub = bus.subscribe()
        waiter = asyncio.ensure_future(sub.next(None))
        await asyncio.sleep(0)
        bus.close()
        async with asyncio.timeout(5):
            assert await waiter is None

    asyncio.run(go())


def live_timers() -> int:
    scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    return sum(1 for handle in scheduled if not handle.cancelled())


def test_a_thousand_subscribers_share_one_heartbeat_timer() -> None:
    async def go() -> None:
        bus = EventBus()
        quiet = [bus.subscribe(heartbeat=0.05) for _ in range(1000)]
        other = bus.subscribe(heartbeat=0.1)
        assert bus.timers == 2  # one per interval in use, not one per subscriber
        assert live_timers() == 2
        async with asyncio.timeout(10):
            assert {await s.next() for s in quiet} == {IDLE}
            assert await other.next() is IDLE
        # an event comes before any heartbeat, and one told something skips the next tick
        bus.publish("task.deleted", {"taskId": "t"})
        async with asyncio.timeout(10):
            first = await quiet[0].next()
            assert isinstance(first, Event) and first.type == "task.deleted"
            assert await quiet[0].next() is IDLE  # quiet again: heartbeats go on
        for s in quiet:
            s.close()
        assert bus.timers == 1 and bus.subscribers == 1
        other.close()
        assert bus.timers == 0 and live_timers() == 0
        with pytest.raises(ValueError, match="positive"):
            bus.subscribe(heartbeat=0)

    asyncio.run(go())


def test_a_closed_bus_starts_no_heartbeat() -> None:
    async def go() -> None:
        bus = EventBus()
        bus.close()
        sub = bus.subscribe(heartbeat=1)
        assert bus.timers == 0 and await sub.next() is None

    asyncio.run(go())


def test_unknown_event_types_and_empty_queues_are_refused() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match=r"unknown event type 'run\.exploded'"):
        bus.publish("run.exploded", {})
    with pytest.raises(ValueError, match="at least one"):
        bus.subscribe(maxsize=-1)


# --- what a committed write means --------------------------------------------------------


def _types(changes: list[Any]) -> list[str]:
    return [t for t, _ in events_of(changes)]


def test_run_changes_become_run_events() -> None:
    pending = {**RUN}
    running_row = {**RUN, "status": "running"}
    done = {**RUN, "status": "completed", "duration_ms": 12, "tokens_used": 7,
            "cost_cents": 0.5}
    assert _types([RunChange(None, None, pending)]) == ["run.created"]
    # the scheduler creates a claimed run already running: created, then started
    assert _types([RunChange(None, None, running_row)]) == ["run.created", "run.started"]
    assert _types([RunChange(RunStatus.PENDING, None, running_row)]) == ["run.started"]
    [(kind, data)] = list(events_of([RunChange(RunStatus.RUNNING, None, done)]))
    assert kind == "run.completed"
    assert data == {"runId": "r1", "taskId": "t1", "status": "completed", "trigger": "manual",
                    "durationMs": 12, "tokensUsed": 7, "costCents": 0.5}
    refused = {**RUN, "status": "failed", "error": "budget exceeded: " + "x" * 500}
    [(created, _), (kind, failed)] = list(events_of([RunChange(None, None, refused)]))
    assert created == "run.created"
    assert kind == "run.failed" and len(failed["error"]) <= 301


def test_deliveries_that_settle_are_told() -> None:
    done = {**RUN, "status": "completed"}
    ok = {**done, "delivery_status": "delivered", "deliveries": [{"type": "webhook"}]}
    bad = {**done, "delivery_status": "failed"}
    was = (RunStatus.COMPLETED, DeliveryStatus.PENDING)
    assert _types([RunChange(*was, ok)]) == ["delivery.succeeded"]
    assert _types([RunChange(*was, bad)]) == ["delivery.failed"]
    still = {**done, "delivery_status": "pending"}
    assert _types([RunChange(*was, still)]) == []


def test_task_and_skill_rows_are_told_once_per_write() -> None:
    changes = [RowChange("tasks", "insert", "t1", "active"), RowChange("tasks", "update", "t1"),
               RowChange("tasks", "update", "t2", "completed"),
               RowChange("skills", "update", "s1"), RowChange("skills", "delete", "s1"),
               RowChange("sources", "update", "x1")]
    assert list(events_of(changes)) == [
        ("task.created", {"taskId": "t1", "status": "active"}),
        ("task.updated", {"taskId": "t2", "status": "completed"}),
        ("skill.changed", {"skillId": "s1", "change": "deleted"}),
    ]


# --- the wire format ---------------------------------------------------------------------


def test_sse_round_trip_and_heartbeats() -> None:
    event = Event(7, "run.started", {"type": "run.started", "runId": "r1", "note": "a\nb"})
    wire = (sse.hello("1.0", 2000) + sse.encode(event) + sse.HEARTBEAT
            + sse.encode_dropped(Dropped(3))).decode()
    got = list(parse_sse(wire.split("\n")))
    assert got[0] == LiveEvent("run.started", dict(event.data), 7)
    assert got[1] == LiveEvent("heartbeat")
    assert got[2].type == "dropped" and got[2].data["count"] == 3


@pytest.mark.parametrize(("raw", "expected"), [
    (None, None),
    ("run.completed", {"run.completed"}),
    ("run.*, task.deleted", {"run.created", "run.started", "run.completed", "run.failed",
                             "task.deleted"}),
])
def test_types_filter(raw: str | None, expected: set[str] | None) -> None:
    got = sse.parse_types(raw)
    assert got == (None if expected is None else frozenset(expected))


@pytest.mark.parametrize("raw", ["run.exploded", "", "run.completed,,", "nope.*"])
def test_unknown_types_are_a_400_naming_types(raw: str) -> None:
    with pytest.raises(ValidationError, match="unknown event type") as info:
        sse.parse_types(raw)
    assert info.value.field == "types"


# --- the real daemon ---------------------------------------------------------------------


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


def _config(oai: OpenAIServer) -> str:
    return oai.provider_toml()


class Collector:
    """Reads the daemon's event stream in a thread, noting when each event arrived."""

    def __init__(self, d: DaemonProcess, types: str | None = None) -> None:
        self.client = Promptly(socket_path=d.socket_path)
        self.got: list[tuple[LiveEvent, float]] = []
        self.error: BaseException | None = None
        kinds = None if types is None else types.split(",")
        self.stream = self.client.promptly.events.stream(types=kinds, heartbeat=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.got.append((event, time.time()))
        except BaseException as exc:  # reported by the test
            self.error = exc

    def of(self, kind: str, **match: Any) -> list[tuple[LiveEvent, float]]:
        return [(e, t) for e, t in self.got if e.type == kind
                and all(e.data.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.stream.close()
        self.client.close()
        self.thread.join(10)


def _instant(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_run_is_streamed_as_it_happens(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=_config(oai)).start()
    oai.script([slow(60, reply("Done."))])  # held until released: started comes first
    events = Collector(d, "run.*,task.created")
    try:
        with d.client() as api:
            task = api.post("/api/promptly/tasks", json={
                "name": "Live", "prompt": "hi", "model": "fake/m"}).json()
            wait_for(lambda: events.of("task.created", taskId=task["id"]), 10, "task.created")
            run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
            wait_for(lambda: events.of("run.started", runId=run_id), 10, "run.started")
            wait_for(lambda: oai.completion_requests, 10, "the model was asked")
            assert not events.of("run.completed", runId=run_id)  # it is still running
            oai.release()
            wait_for(lambda: events.of("run.completed", runId=run_id), 10, "run.completed")
            run = api.get(f"/api/promptly/runs/{run_id}").json()
        mine = [e.type for e, _ in events.got if e.data.get("runId") == run_id]
        assert mine == ["run.created", "run.started", "run.completed"]
        for kind, field in (("run.created", "createdAt"), ("run.started", "startedAt"),
                            ("run.completed", "completedAt")):
            [(event, arrived)] = events.of(kind, runId=run_id)
            assert event.data["taskId"] == task["id"]
            assert arrived - _instant(run[field]) < 1.0, (kind, arrived, run[field])
        done = events.of("run.completed")[0][0].data
        assert done["status"] == "completed" and done["tokensUsed"] == run["tokensUsed"]
        assert events.error is None
    finally:
        events.close()


def test_heartbeats_while_connected_and_the_stream_ends_with_the_daemon(
        daemon_factory: Any) -> None:
    d = daemon_factory().start()
    events = Collector(d)
    try:
        wait_for(lambda: len(events.of("heartbeat")) >= 2, 15, "two heartbeats (1 s apart)")
        with d.client() as api:
            assert api.get("/api/promptly/health").json()["counters"]["eventSubscribers"] == 1
        assert d.stop() == 0
        events.thread.join(15)
        assert not events.thread.is_alive() and events.error is None  # ended, cleanly
    finally:
        events.close()


def test_bad_filters_are_400s(daemon: DaemonProcess) -> None:
    with daemon.client() as api:
        r = api.get("/api/promptly/events", params={"types": "run.exploded"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "types"
        r = api.get("/api/promptly/events", params={"heartbeat": "0"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "heartbeat"


def test_a_client_that_stops_reading_never_delays_a_run(daemon_factory: Any,
                                                        oai: OpenAIServer,
                                                        isolated_home: Path) -> None:
    d = daemon_factory(config=_config(oai)).start()
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(d.socket_path))
    stalled.sendall(b"GET /api/promptly/events HTTP/1.1\r\nhost: localhost\r\n\r\n")
    # ...and never reads. Thousands of skill files make thousands of events in one write,
    # far more than the socket's buffers hold: the stalled stream's send blocks.
    with d.client() as api:
        wait_for(lambda: api.get("/api/promptly/health").json()["counters"]
                 ["eventSubscribers"] == 1, 10, "the stalled client subscribed")
        folder = isolated_home / ".config" / "promptly" / "skills"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(3000):
            (folder / f"s{n}.md").write_text(f"---\nname: S{n}\n---\nBody {n}.\n")
        wait_for(lambda: api.get("/api/promptly/health").json()["counters"]
                 ["eventsBacklog"] > 0, 60, "the stalled client's queue backs up")
        events = Collector(d, "run.*")
        try:
            task = api.post("/api/promptly/tasks", json={
                "name": "Unhindered", "prompt": "hi", "model": "fake/m"}).json()
            oai.script([reply("ok")])
            run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
            wait_for(lambda: events.of("run.completed", runId=run_id), 10, "run.completed")
            run = api.get(f"/api/promptly/runs/{run_id}").json()
            [(_, arrived)] = events.of("run.completed", runId=run_id)
            assert arrived - _instant(run["completedAt"]) < 1.0
            assert run["status"] == "completed"
            counters = api.get("/api/promptly/health").json()["counters"]
            assert counters["eventsBacklog"] > 0  # the stalled client is still stalled
        finally:
            events.close()
    stalled.close()  # a vanished client: its subscription goes
    with d.client() as api:
        wait_for(lambda: api.get("/api/promptly/health").json()["counters"]
                 ["eventSubscribers"] == 0, 15, "the vanished client's subscription ended")


def test_runs_follow_returns_the_finished_run(daemon_factory: Any, oai: OpenAIServer) -> None:
    d = daemon_factory(config=_config(oai)).start()
    oai.script([slow(60, reply("Followed."))])
    with d.client() as api, Promptly(socket_path=d.socket_path) as client:
        task = api.post("/api/promptly/tasks", json={
            "name": "F", "prompt": "hi", "model": "fake/m"}).json()
        run_id = api.post(f"/api/promptly/tasks/{task['id']}/run").json()["id"]
        def release_when_asked() -> None:
            wait_for(lambda: oai.completion_requests, 20, "the model was asked")
            oai.release()

        releaser = threading.Thread(target=release_when_asked, daemon=True)
        releaser.start()
        run = client.promptly.runs.follow(run_id, timeout=30)
        releaser.join(10)
        assert run.status == "completed" and run.output == "Followed."
        # a finished run is answered at once
        assert client.promptly.runs.follow(run_id, timeout=5).output == "Followed."


def test_event_stream_errors_are_typed(daemon: DaemonProcess, tmp_path: Path) -> None:
    from promptlyd.client import BadRequestError, DaemonNotRunning

    with Promptly(socket_path=daemon.socket_path) as client, pytest.raises(BadRequestError):
        client.promptly.events.stream(types=["run.exploded"])
    with Promptly(socket_path=tmp_path / "none.sock") as client, \
            pytest.raises(DaemonNotRunning):
        client.promptly.events.stream()
    assert httpx  # the client maps httpx's errors; the test needs no httpx of its own
