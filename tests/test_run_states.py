"""The run lifecycle as data: the transition tables (every pair, legal or not), the one
run builder, and the slots."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptlyd.errors import Conflict, PromptlydError
from promptlyd.runs.create import new_run
from promptlyd.runs.slots import Slots
from promptlyd.runs.states import (
    DELIVERY_TRANSITIONS,
    FINISHED,
    RUN_TRANSITIONS,
    UNFINISHED,
    DeliveryStatus,
    IllegalTransition,
    RunStatus,
    Trigger,
    check_delivery_transition,
    check_run_transition,
    sources_of,
)

R, D = RunStatus, DeliveryStatus

# written out independently of the module: the legal moves SPEC §5 describes
LEGAL_RUN = {
    (None, R.PENDING), (None, R.RUNNING), (None, R.FAILED),
    (R.PENDING, R.RUNNING), (R.PENDING, R.FAILED),
    (R.RUNNING, R.COMPLETED), (R.RUNNING, R.FAILED),
}
LEGAL_DELIVERY = {
    (None, D.PENDING), (D.PENDING, D.DELIVERED), (D.PENDING, D.FAILED), (D.FAILED, D.PENDING),
}
RUN_FROM = [None, *RunStatus]
DELIVERY_FROM = [None, *DeliveryStatus]


def test_the_stored_strings_are_the_apis() -> None:
    assert [s.value for s in RunStatus] == ["pending", "running", "completed", "failed"]
    assert [s.value for s in DeliveryStatus] == ["pending", "delivered", "failed"]
    assert [t.value for t in Trigger] == ["manual", "schedule", "catchup"]
    assert RunStatus.FAILED == "failed" and f"{RunStatus.RUNNING}" == "running"


@pytest.mark.parametrize("frm", RUN_FROM)
@pytest.mark.parametrize("to", list(RunStatus))
def test_run_transition_table(frm: RunStatus | None, to: RunStatus) -> None:
    assert (to in RUN_TRANSITIONS[frm]) == ((frm, to) in LEGAL_RUN)
    if (frm, to) in LEGAL_RUN:
        check_run_transition(frm, to)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_run_transition(frm, to)
        assert f"cannot go from {frm or '(new)'} to {to}" in str(info.value)
        assert info.value.field == "status"


@pytest.mark.parametrize("frm", DELIVERY_FROM)
@pytest.mark.parametrize("to", list(DeliveryStatus))
def test_delivery_transition_table(frm: DeliveryStatus | None, to: DeliveryStatus) -> None:
    assert (to in DELIVERY_TRANSITIONS[frm]) == ((frm, to) in LEGAL_DELIVERY)
    if (frm, to) in LEGAL_DELIVERY:
        check_delivery_transition(frm, to)
    else:
        with pytest.raises(IllegalTransition, match="a delivery cannot go from"):
            check_delivery_transition(frm, to)


@given(st.sampled_from(RUN_FROM), st.lists(st.sampled_from(list(RunStatus)), max_size=8))
def test_any_walk_takes_only_legal_moves_and_stops_when_finished(
        start: RunStatus | None, steps: list[RunStatus]) -> None:
    state, moves = start, 0
    for to in steps:
        try:
            check_run_transition(state, to)
        except IllegalTransition:
            assert (state, to) not in LEGAL_RUN
            continue
        assert (state, to) in LEGAL_RUN and state not in FINISHED
        state, moves = to, moves + 1
    assert moves <= 3  # (new) → pending → running → completed | failed, never back


def test_finals_and_bulk_sources() -> None:
    assert all(not RUN_TRANSITIONS[s] for s in FINISHED)
    assert set(RunStatus) == UNFINISHED | FINISHED
    assert sources_of(RunStatus.FAILED) == UNFINISHED
    assert sources_of(RunStatus.COMPLETED) == {RunStatus.RUNNING}
    assert issubclass(IllegalTransition, Conflict) and issubclass(IllegalTransition,
                                                                  PromptlydError)


NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_new_run_rows() -> None:
    manual = new_run("t", trigger=Trigger.MANUAL, now=NOW)
    assert manual["status"] == "pending" and manual["scheduled_for"] is None
    assert manual["created_at"] == "2026-03-02T09:30:00.000Z" and "started_at" not in manual
    claimed = new_run("t", trigger=Trigger.SCHEDULE, now=NOW, scheduled_for=NOW, claimed=True)
    assert claimed["status"] == "running" and claimed["started_at"] == claimed["created_at"]
    assert claimed["scheduled_for"] == "2026-03-02T09:30:00.000Z"
    refused = new_run("t", trigger=Trigger.CATCHUP, now=NOW, claimed=True, refused="budget")
    assert refused["status"] == "failed" and refused["error"] == "budget"
    assert "started_at" not in refused  # never started: it is not a run used
    assert manual["id"] != claimed["id"]


async def test_slots_take_up_to_and_give_back() -> None:
    slots = Slots(3)
    assert slots.take_up_to(5) == 3 and slots.active == 3
    assert slots.take_up_to(1) == 0
    slots.give(2)
    assert slots.active == 1


async def test_a_shrunk_limit_holds_waiters_until_room() -> None:
    slots = Slots(2)
    assert slots.take_up_to(2) == 2
    waiter = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    slots.resize(1)  # a reload lowered max_concurrent_runs
    slots.give()  # 2 → 1 held: still at the new limit, the waiter keeps waiting
    await asyncio.sleep(0)
    assert not waiter.done() and slots.active == 1
    slots.give()  # now there is room: the slot passes to the waiter
    async with asyncio.timeout(5):
        await waiter
    assert slots.active == 1 and not slots.try_take()
