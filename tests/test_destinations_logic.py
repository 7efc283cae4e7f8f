"""The pure parts of delivery (schedule, deliverOn, signing, masking, bodies) and the
worker's schedule driven instantly by a FakeClock against a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from promptlyd.clock import FakeClock
from promptlyd.config import load_config
from promptlyd.destinations.base import Attempt, Message, Outcome
from promptlyd.destinations.outbox import plan, summarize
from promptlyd.destinations.policy import skip_reason
from promptlyd.destinations.registry import Destinations
from promptlyd.destinations.render import sms_body, subject, webhook_body
from promptlyd.destinations.retry import after_attempt, classify_http, parse_retry_after
from promptlyd.destinations.signing import generate_secret, secret_key, sign
from promptlyd.destinations.targets import effective, mask
from promptlyd.destinations.worker import MAX_IN_FLIGHT, DeliveryWorker
from promptlyd.errors import ConfigError, Conflict, NotFound
from promptlyd.store import AsyncStore
from promptlyd.store import outbox as sql
from promptlyd.store.db import Store
from promptlyd.timeutil import iso

NOW = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
SCHEDULE = (5.0, 300.0, 1800.0)


# --- the retry schedule ---------------------------------------------------------

@given(st.integers(min_value=1, max_value=10))
def test_retry_waits_the_schedule_then_gives_up(n: int) -> None:
    step = after_attempt(Attempt(Outcome.RETRY, "500", "HTTP 500"), n, SCHEDULE, NOW)
    if n <= len(SCHEDULE):
        assert step.status == "pending"
        assert step.next_attempt_at == NOW + timedelta(seconds=SCHEDULE[n - 1])
    else:
        assert step.status == "failed" and step.next_attempt_at is None
        assert step.detail == f"gave up after {n} attempts: HTTP 500"


def test_sent_and_final_end_at_once_and_retry_after_is_honoured() -> None:
    assert after_attempt(Attempt(Outcome.SENT, "200"), 1, SCHEDULE, NOW).status == "delivered"
    final = after_attempt(Attempt(Outcome.FINAL, "404", "no"), 1, SCHEDULE, NOW)
    assert final.status == "failed" and final.detail == "no"
    slow = after_attempt(Attempt(Outcome.RETRY, "429", retry_after_seconds=90), 1, SCHEDULE, NOW)
    assert slow.next_attempt_at == NOW + timedelta(seconds=90)
    short = after_attempt(Attempt(Outcome.RETRY, "429", retry_after_seconds=1), 2, SCHEDULE, NOW)
    assert short.next_attempt_at == NOW + timedelta(seconds=300)  # never sooner than planned
    huge = after_attempt(Attempt(Outcome.RETRY, "503", retry_after_seconds=1e9), 1, SCHEDULE,
                         NOW)
    assert huge.next_attempt_at == NOW + timedelta(days=1)
    none = after_attempt(Attempt(Outcome.RETRY, None, "down"), 1, (), NOW)
    assert none.status == "failed" and "after 1 attempt:" in (none.detail or "")


@pytest.mark.parametrize(("code", "outcome"), [
    (200, Outcome.SENT), (204, Outcome.SENT), (408, Outcome.RETRY), (429, Outcome.RETRY),
    (500, Outcome.RETRY), (503, Outcome.RETRY), (400, Outcome.FINAL), (401, Outcome.FINAL),
    (404, Outcome.FINAL), (410, Outcome.FINAL), (302, Outcome.FINAL),
])
def test_http_codes(code: int, outcome: Outcome) -> None:
    attempt = classify_http(code, {}, NOW, "the webhook")
    assert attempt.outcome is outcome and attempt.code == str(code)
    if code == 410:
        assert "410 Gone" in (attempt.detail or "")


def test_retry_after_as_seconds_or_a_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Tue, 01 Dec 2026 07:31:00 GMT", NOW) == 60
    assert parse_retry_after("Tue, 01 Dec 2026 07:00:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    got = classify_http(429, {"retry-after": "7"}, NOW, "x")
    assert got.retry_after_seconds == 7


# --- deliverOn ------------------------------------------------------------------

def test_deliver_on() -> None:
    kw: dict[str, Any] = {"output": "a", "last_sent": "a", "sent_before": True}
    assert skip_reason("always", failed=False, **kw) is None
    assert skip_reason(None, failed=False, **kw) is None
    assert skip_reason("changed", failed=False, **kw) is not None
    assert skip_reason("changed", failed=True, **kw) is None  # failures always
    assert skip_reason("changed", failed=False, output="b", last_sent="a",
                       sent_before=True) is None
    assert skip_reason("changed", failed=False, output=None, last_sent=None,
                       sent_before=False) is None  # the first one is always sent
    assert skip_reason("failure", failed=False, **kw) is not None
    assert skip_reason("failure", failed=True, **kw) is None


# --- targets --------------------------------------------------------------------

def test_masking_hides_most_of_each_target() -> None:
    assert mask("email", "reader@example.org") == "re***@example.org"
    assert mask("sms", "+4915112345678") == "+49*******5678"
    assert mask("webhook", "https://user:pw@hooks.example.com:8443/t/SECRET?k=v") == \
        "https://hooks.example.com:8443/…"
    assert mask("webhook", "https://hooks.example.com") == "https://hooks.example.com/"


def test_effective_destinations_merge_the_legacy_flags_once() -> None:
    row = {"destinations": [{"type": "email", "value": "Me@Example.com"}],
           "delivery_email": True, "delivery_email_address": "me@example.com",
           "delivery_sms": True, "delivery_phone_number": "+4915112345678"}
    assert effective(row) == [{"type": "email", "value": "Me@Example.com"},
                              {"type": "sms", "value": "+4915112345678"}]
    assert effective({"delivery_sms": False, "delivery_phone_number": "+4915112345678"}) == []


# --- signing --------------------------------------------------------------------

@given(st.binary(max_size=500), st.text(min_size=1, max_size=40).filter(lambda s: "." not in s))
def test_our_signature_verifies_with_the_standardwebhooks_package(body: bytes,
                                                                  msg_id: str) -> None:
    secret = generate_secret()
    stamp = int(datetime.now(UTC).timestamp())
    text = body.decode("utf-8", errors="replace").encode()
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
               "webhook-signature": sign(secret_key(secret), msg_id, stamp, text)}
    Webhook(secret).verify(text, headers, json_parse=False)


def test_a_malformed_secret_is_a_config_error_that_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="--generate"):
        secret_key("whsec_not base64!")
    with pytest.raises(ConfigError, match="empty"):
        secret_key("whsec_")


# --- bodies ---------------------------------------------------------------------

def message(output: str | None = "out", failed: bool = False) -> Message:
    run = {"id": "9c1d0000-0000-4000-8000-000000000000", "status": "failed" if failed
           else "completed", "output": output, "error": "model said no" if failed else None}
    return Message(message_id="msg_1", event="run.failed" if failed else "run.completed",
                   target="x", label=None, task={"name": "Brief", "timezone": "Asia/Kolkata"},
                   run=run, timestamp=datetime(2026, 12, 1, 20, 0, tzinfo=UTC))


@given(st.text(max_size=3000), st.integers(min_value=40, max_value=1600))
def test_sms_body_fits_the_limit(output: str, limit: int) -> None:
    body = sms_body(message(output), limit)
    assert len(body) <= limit
    if len("Brief: " + output.strip()) > limit:
        assert body.endswith(("promptly runs show 9c1d0000]", "… [truncated]"))


def test_subject_names_the_task_the_local_date_and_a_failure() -> None:
    assert subject(message()) == "Brief — 2026-12-02"  # 20:00 UTC is past midnight in Kolkata
    assert subject(message(failed=True)) == "Brief failed — 2026-12-02"
    assert sms_body(message(failed=True), 100) == "Brief failed: model said no"
    assert b'"type":"run.completed"' in webhook_body(message())


# --- the outbox and the worker, on a FakeClock --------------------------------------

def test_summary_status() -> None:
    def rows(*statuses: str) -> list[dict[str, Any]]:
        return [{"type": "webhook", "target": "https://h/x", "status": s, "attempts": 1}
                for s in statuses]
    assert summarize([]) == (None, None)
    assert summarize(rows("delivered", "skipped"))[0] == "delivered"
    assert summarize(rows("delivered", "failed"))[0] == "failed"
    assert summarize(rows("pending", "failed"))[0] == "pending"


class Scripted:
    """An in-memory destination: answers its script, records messages."""

    type = "webhook"

    def __init__(self, *outcomes: Outcome | Exception) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Message] = []

    async def send(self, msg: Message) -> Attempt:
        self.sent.append(msg)
        item = self.outcomes.pop(0) if self.outcomes else Outcome.SENT
        if isinstance(item, Exception):
            raise item
        return Attempt(item, "500" if item is not Outcome.SENT else "200", "boom")

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = AsyncStore(tmp_path / "t.db")
    s.open()
    yield s
    s.close()


async def setup(store: AsyncStore, clock: FakeClock, sender: Scripted, schedule: str,
                deliver_on: str | None = None, redact: Any = None, destinations: int = 1,
                ) -> tuple[DeliveryWorker, str]:
    """A worker sending through ``sender``, and run r1 of task t1 (``destinations``
    webhooks) finished and handed to its outbox."""
    config = load_config(None, {"HOME": "/nonexistent-home"})
    config = config.with_(delivery=config.delivery.__class__(
        retry_schedule_seconds=tuple(float(x) for x in schedule.split()),
        timeout_seconds=1.0))
    worker = DeliveryWorker(config=config, store=store, clock=clock, secrets=_NoSecrets(),
                            organization_id="org", user_id="me",
                            destinations=Destinations(config, _NoSecrets(), clock,
                                                      kinds={"webhook": lambda *a: sender}),
                            redact=redact)
    stamp = "2026-12-01T07:30:00.000Z"

    def tx(s: Store) -> str:
        s.insert("tasks", {"id": "t1", "name": "Brief", "prompt": "p", "model": "x/y",
                           "schedule": "daily", "timezone": "UTC", "status": "active",
                           "anchor_at": stamp, "created_at": stamp, "updated_at": stamp,
                           "deliver_on": deliver_on,
                           "destinations": [{"type": "webhook", "value": f"https://h/x{i or ''}"}
                                            for i in range(destinations)]})
        s.insert("runs", {"id": "r1", "task_id": "t1", "status": "completed", "output": "o",
                          "trigger": "manual", "created_at": stamp, "completed_at": stamp})
        run = s.get("runs", "r1")
        assert run is not None
        worker.enqueue(s, run)
        return "r1"

    return worker, await store.write(tx)


class _NoSecrets:
    def get(self, name: str) -> str | None:
        return None


async def run_row(store: AsyncStore, run_id: str = "r1") -> dict[str, Any]:
    row = await store.read(lambda s: s.get("runs", run_id))
    assert row is not None
    return row


async def test_the_worker_follows_the_schedule_on_a_fake_clock(store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    sender = Scripted(Outcome.RETRY, Outcome.RETRY, Outcome.SENT)
    worker, _ = await setup(store, clock, sender, "5 300")
    assert (await run_row(store))["delivery_status"] == "pending"
    assert await worker.tick() is None  # the first attempt is under way: nothing else due
    await worker.settle()
    assert await worker.tick() == 5.0
    clock.advance(4.9)
    assert await worker.tick() == pytest.approx(0.1)
    assert len(sender.sent) == 1
    clock.advance(0.1)
    await worker.tick()
    await worker.settle()
    assert await worker.tick() == 300.0
    clock.advance(300)
    await worker.tick()
    await worker.settle()
    run = await run_row(store)
    assert run["delivery_status"] == "delivered"
    assert run["deliveries"][0]["attempts"] == 3
    assert len({m.message_id for m in sender.sent}) == 1
    assert await worker.tick() is None


async def test_a_crashing_sender_is_retried_then_fails_with_the_reason(
        store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    sender = Scripted(RuntimeError("bug"), RuntimeError("bug"))
    worker, _ = await setup(store, clock, sender, "1")
    for _ in range(2):
        await worker.tick()
        await worker.settle()
        clock.advance(1)
    run = await run_row(store)
    assert run["delivery_status"] == "failed"
    assert "internal error: RuntimeError: bug" in run["deliveries"][0]["lastError"]


async def test_changed_compares_with_the_last_output_sent(store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    worker, _ = await setup(store, clock, Scripted(), "1", deliver_on="changed")

    def second(s: Store) -> list[dict[str, Any]]:
        s.insert("runs", {"id": "r2", "task_id": "t1", "status": "completed", "output": "o",
                          "trigger": "manual", "created_at": "2026-12-01T08:00:00.000Z"})
        worker.enqueue(s, s.get("runs", "r2") or {})
        return sql.deliveries_of(s, "r2")

    [row] = await store.write(second)
    assert row["status"] == "skipped" and "same as the last" in row["last_error"]


async def test_redeliver_errors(store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    worker, _ = await setup(store, clock, Scripted(), "1")
    with pytest.raises(NotFound):
        await worker.redeliver("nope")
    await store.write(lambda s: s.insert("runs", {
        "id": "r3", "task_id": "t1", "status": "running", "trigger": "manual",
        "created_at": "2026-12-01T08:00:00.000Z"}))
    with pytest.raises(Conflict, match="still running"):
        await worker.redeliver("r3")


async def test_stop_leaves_a_send_under_way_pending(store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    gate = asyncio.Event()

    class Hanging(Scripted):
        async def send(self, msg: Message) -> Attempt:
            self.sent.append(msg)
            await gate.wait()
            return Attempt(Outcome.SENT)

    sender = Hanging()
    worker, _ = await setup(store, clock, sender, "1")
    worker.start()
    async with asyncio.timeout(10):
        while not sender.sent:
            await asyncio.sleep(0.01)
    await worker.stop()
    rows = await store.read(lambda s: sql.deliveries_of(s, "r1"))
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 0


def test_plan_force_ignores_deliver_on() -> None:
    task = {"deliver_on": "failure", "destinations": [{"type": "sms", "value": "+4915112345678"}]}
    run = {"id": "r", "task_id": "t", "status": "completed"}
    assert plan(task, run, {}, NOW)[0]["status"] == "skipped"
    assert plan(task, run, {}, NOW, force=True)[0]["status"] == "pending"


# --- config -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key", "says"), [
    ("[delivery]\nretry_schedule_seconds = [5, -1]\n", "delivery.retry_schedule_seconds",
     "list of seconds"),
    ("[delivery]\nretry_schedule_seconds = 5\n", "delivery.retry_schedule_seconds", "array"),
    ("[delivery]\ntimeout_seconds = 0\n", "delivery.timeout_seconds", "greater than 0"),
    ('[smtp]\nsecurity = "ssl"\n', "smtp.security", "'starttls', 'tls' or 'none'"),
    ('[sms]\nbase_url = "twilio.com"\n', "sms.base_url", "http"),
    ("[sms]\nmax_length = 10\n", "sms.max_length", "at least 40"),
])
def test_bad_delivery_config_names_the_key(tmp_path: Path, text: str, key: str,
                                           says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {"HOME": str(tmp_path)})
    assert info.value.key == key and says in str(info.value)


def test_delivery_config_defaults_and_smtp_ports(tmp_path: Path) -> None:
    config = load_config(None, {"HOME": str(tmp_path)})
    assert config.delivery.retry_schedule_seconds == (5, 300, 1800, 7200, 18000, 36000)
    assert config.delivery.timeout_seconds == 15
    assert config.smtp.security == "starttls" and config.smtp.port == 587
    path = tmp_path / "c.toml"
    path.write_text('[smtp]\nsecurity = "tls"\n')
    assert load_config(path, {"HOME": str(tmp_path)}).smtp.port == 465


@pytest.mark.parametrize("outcome", [Outcome.FINAL, Outcome.SENT])
async def test_a_redeliver_during_a_send_wins_over_the_sends_result(
        store: AsyncStore, outcome: Outcome) -> None:
    clock = FakeClock(NOW)
    gate = asyncio.Event()

    class Gated(Scripted):
        async def send(self, msg: Message) -> Attempt:
            self.sent.append(msg)
            if len(self.sent) == 1:
                await gate.wait()
                return Attempt(outcome, "400", "refused")
            return Attempt(Outcome.SENT, "200")

    sender = Gated()
    worker, run_id = await setup(store, clock, sender, "1")
    await worker.tick()  # the first send starts and waits at the gate
    async with asyncio.timeout(10):
        while not sender.sent:
            await asyncio.sleep(0)
    redelivered = await worker.redeliver(run_id)  # meanwhile: send it again, please
    assert redelivered["deliveryStatus"] == "pending"
    gate.set()
    await worker.settle()  # the first send ends; its result must not undo the redeliver
    rows = await store.read(lambda s: sql.deliveries_of(s, run_id))
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 0, rows
    await worker.tick()
    await worker.settle()
    assert len(sender.sent) == 2
    run = await run_row(store, run_id)
    assert run["delivery_status"] == "delivered" and run["deliveries"][0]["attempts"] == 1


async def test_a_reload_during_a_send_closes_the_sender_only_after_it(
        store: AsyncStore) -> None:
    clock = FakeClock(NOW)
    gate = asyncio.Event()

    class Gated(Scripted):
        closed = False

        async def send(self, msg: Message) -> Attempt:
            self.sent.append(msg)
            await gate.wait()
            # a closed HTTP client here fails the attempt (maybe its last one)
            return Attempt(Outcome.RETRY if self.closed else Outcome.SENT, "200")

        async def aclose(self) -> None:
            self.closed = True

    sender = Gated()
    worker, run_id = await setup(store, clock, sender, "1")
    await worker.tick()
    async with asyncio.timeout(10):
        while not sender.sent:
            await asyncio.sleep(0)
    await worker.apply(worker.config)  # SIGHUP while the send is in flight
    assert not sender.closed
    gate.set()
    await worker.settle()
    run = await run_row(store, run_id)
    assert run["delivery_status"] == "delivered", run["deliveries"]
    assert sender.closed  # retired, then closed once its send ended


async def test_a_receiver_quoting_a_secret_is_stored_redacted(store: AsyncStore,
                                                               tmp_path: Path) -> None:
    from promptlyd.secrets import Redactor

    token = "sms-token-0d9c8b7a"

    class Echoing(Scripted):
        async def send(self, msg: Message) -> Attempt:
            self.sent.append(msg)
            return Attempt(Outcome.FINAL, "401", f"the SMS provider said: bad token {token}")

    worker, run_id = await setup(store, FakeClock(NOW), Echoing(), "1",
                                 redact=Redactor([token]).redact)
    await worker.tick()
    await worker.settle()
    run = await run_row(store, run_id)
    assert run["deliveries"][0]["lastError"] == "the SMS provider said: bad token [redacted]"
    for path in tmp_path.glob("t.db*"):
        assert token.encode() not in path.read_bytes(), path


class _Held:
    """A webhook sender whose sends wait until released."""

    type = "webhook"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, msg: Message) -> Attempt:
        self.sent.append(msg)
        self.started.set()
        await self.release.wait()
        return Attempt(Outcome.SENT, "200", None)

    async def aclose(self) -> None:
        return None


async def test_a_send_ending_during_a_ticks_read_is_not_sent_again(
        store: AsyncStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # tick() reads the due rows; when that read's snapshot predates the write that
    # records a send's result, the row still looks pending when the read returns
    clock = FakeClock(NOW)
    sender = _Held()
    worker, _ = await setup(store, clock, sender, "1")  # type: ignore[arg-type]
    await worker.tick()
    await asyncio.wait_for(sender.started.wait(), 10)  # the send is under way
    real_read = store.read
    snapshot_taken, gate = asyncio.Event(), asyncio.Event()

    async def held_read(fn: Any) -> Any:
        result = await real_read(fn)
        snapshot_taken.set()
        await gate.wait()
        return result

    monkeypatch.setattr(store, "read", held_read)
    second = asyncio.create_task(worker.tick())
    await asyncio.wait_for(snapshot_taken.wait(), 10)  # it saw the row pending
    sender.release.set()
    await worker.settle()  # the send ended, its result recorded
    gate.set()
    await asyncio.wait_for(second, 10)
    await worker.settle()
    assert len(sender.sent) == 1
    assert (await run_row(store))["delivery_status"] == "delivered"


# --- the tick reads only what it can start ------------------------------------------

class _Gated:
    """A webhook sender whose send to each target waits for that target's release."""

    type = "webhook"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def send(self, msg: Message) -> Attempt:
        self.sent.append(msg)
        await self.gates.setdefault(msg.target, asyncio.Event()).wait()
        return Attempt(Outcome.SENT, "200", None)

    def release(self, target: str) -> None:
        self.gates.setdefault(target, asyncio.Event()).set()

    async def aclose(self) -> None:
        return None


async def until(condition: Any, what: str) -> None:
    """Let the loop run until ``condition()`` holds (generous: a stuck test fails)."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0)
    assert condition(), what


def spy_reads(store: AsyncStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each ``store.read`` from now on returned."""
    results: list[Any] = []
    real_read = store.read

    async def read(fn: Any) -> Any:
        result = await real_read(fn)
        results.append(result)
        return result

    monkeypatch.setattr(store, "read", read)
    return results


async def test_a_full_worker_reads_nothing_and_starts_nothing_more(
        store: AsyncStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sender = _Gated()
    worker, _ = await setup(store, FakeClock(NOW), sender, "1",  # type: ignore[arg-type]
                            destinations=MAX_IN_FLIGHT + 3)
    assert await worker.tick() is None
    await until(lambda: len(sender.sent) == MAX_IN_FLIGHT, "the first sends start")
    started = set(worker._in_flight)
    assert len(started) == MAX_IN_FLIGHT
    reads = spy_reads(store, monkeypatch)
    assert await worker.tick() is None
    assert reads == []  # full: the tick did not even look
    assert set(worker._in_flight) == started
    for i in range(MAX_IN_FLIGHT + 3):  # every send may end now
        sender.release(f"https://h/x{i or ''}")
    await worker.settle()
    await worker.tick()  # room again: the other three start
    await worker.settle()
    assert len({m.message_id for m in sender.sent}) == len(sender.sent) == MAX_IN_FLIGHT + 3
    assert (await run_row(store))["delivery_status"] == "delivered"


async def test_the_rows_in_flight_are_left_out_of_the_ticks_read(
        store: AsyncStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sender = _Gated()
    worker, _ = await setup(store, FakeClock(NOW), sender, "1",  # type: ignore[arg-type]
                            destinations=MAX_IN_FLIGHT + 3)
    await worker.tick()
    await until(lambda: len(sender.sent) == MAX_IN_FLIGHT, "the first sends start")
    first = sender.sent[0]
    sender.release(first.target)  # one send ends: room for one more
    await until(lambda: len(worker._in_flight) == MAX_IN_FLIGHT - 1, "the send ends")
    in_flight = set(worker._in_flight)
    all_rows = await store.read(lambda s: sql.deliveries_of(s, "r1"))
    never_started = {r["id"] for r in all_rows
                     if r["id"] not in in_flight and r["status"] == "pending"}
    assert len(never_started) == 3
    reads = spy_reads(store, monkeypatch)
    assert await worker.tick() is None  # one started: full again
    assert {r["id"] for r in reads[0]} == never_started  # none of the 7 in flight read
    assert len(worker._in_flight) == MAX_IN_FLIGHT
    assert len(set(worker._in_flight) - in_flight) == 1


async def test_due_deliveries_leaves_out_the_excluded_before_the_limit(
        store: AsyncStore) -> None:
    await setup(store, FakeClock(NOW), Scripted(), "1", destinations=5)

    async def due(limit: int, exclude: set[str], at: datetime = NOW) -> list[str]:
        rows = await store.read(lambda s: sql.due_deliveries(s, iso(at), limit, exclude))
        return [r["id"] for r in rows]

    ids = await due(100, set())
    assert len(ids) == 5
    assert await due(2, set(ids[:2])) == ids[2:4]  # the limit counts only the others
    assert await due(100, set(ids)) == []
    assert await due(100, {"no-such-row"}) == ids
    assert await due(100, set(), NOW - timedelta(seconds=1)) == []  # none due yet


async def test_a_backlog_larger_than_the_in_flight_limit_is_all_delivered_once(
        store: AsyncStore) -> None:
    class Counting(Scripted):
        def __init__(self) -> None:
            super().__init__()
            self.now_sending = self.most = 0

        async def send(self, msg: Message) -> Attempt:
            self.now_sending += 1
            self.most = max(self.most, self.now_sending)
            try:
                await asyncio.sleep(0)  # sends overlap, and end in any order
                return await super().send(msg)
            finally:
                self.now_sending -= 1

    sender = Counting()
    worker, _ = await setup(store, FakeClock(NOW), sender, "1", destinations=5)

    def more_runs(s: Store) -> None:
        for n in range(2, 7):  # r2..r6: 30 rows in all
            s.insert("runs", {"id": f"r{n}", "task_id": "t1", "status": "completed",
                              "output": f"o{n}", "trigger": "manual",
                              "created_at": f"2026-12-01T07:3{n}:00.000Z"})
            run = s.get("runs", f"r{n}")
            assert run is not None
            worker.enqueue(s, run)

    await store.write(more_runs)
    expected = await store.read(lambda s: s.count(
        "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"))
    assert expected == 30 > 3 * MAX_IN_FLIGHT
    worker.start()
    try:
        await until(lambda: len(sender.sent) >= expected, "every row is sent")
        await worker.settle()
    finally:
        await worker.stop()
    ids = [m.message_id for m in sender.sent]
    assert len(ids) == len(set(ids)) == expected  # each row once
    assert sender.most <= MAX_IN_FLIGHT
    for n in range(1, 7):
        assert (await run_row(store, f"r{n}"))["delivery_status"] == "delivered"


# --- deliverOn: the history is read only for "changed" --------------------------------

@pytest.mark.parametrize(("deliver_on", "status", "reads", "outcome"), [
    (None, "completed", 0, "pending"),
    ("always", "completed", 0, "pending"),
    ("failure", "completed", 0, "skipped"),
    ("failure", "failed", 0, "pending"),
    ("changed", "failed", 0, "pending"),  # a failure is always sent
    ("changed", "completed", 1, "skipped"),  # the same output as the one sent before
])
async def test_only_changed_reads_what_was_sent_before(
        store: AsyncStore, monkeypatch: pytest.MonkeyPatch, deliver_on: str | None,
        status: str, reads: int, outcome: str) -> None:
    worker, _ = await setup(store, FakeClock(NOW), Scripted(), "1", deliver_on=deliver_on)
    asked: list[str] = []
    real = sql.last_sent_outputs

    def spy(s: Store, task_id: str) -> dict[tuple[str, str], str | None]:
        asked.append(task_id)
        return real(s, task_id)

    monkeypatch.setattr(sql, "last_sent_outputs", spy)

    def second(s: Store) -> list[dict[str, Any]]:
        s.insert("runs", {"id": "r2", "task_id": "t1", "status": status, "output": "o",
                          "error": "boom" if status == "failed" else None,
                          "trigger": "manual", "created_at": "2026-12-01T08:00:00.000Z"})
        worker.enqueue(s, s.get("runs", "r2") or {})
        return sql.deliveries_of(s, "r2")

    [row] = await store.write(second)
    assert len(asked) == reads
    assert row["status"] == outcome
