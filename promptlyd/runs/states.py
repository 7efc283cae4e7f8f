"""A run's two state machines, as data: which status may follow which (pure).

    (new) ─► pending ─► running ─► completed
      │         │          │
      │         └──────────┴─────► failed
      └─► running (the scheduler claimed a slot)   └─► failed (refused: budget)

    delivery: (none) ─► pending ─► delivered | failed
              (none) ─► delivered            (deliverOn skipped every destination)
              delivered | failed ─► pending  (redeliver)

``None`` as the "from" state means "the row does not exist yet" (for runs) or
"no delivery was asked for" (for deliveries). Every status change in the
database goes through ``Store.transition_run``, which checks these tables;
nothing else writes a status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from promptlyd.errors import Conflict

INTERRUPTED = "interrupted: daemon stopped"


class RunStatus(StrEnum):
    PENDING = "pending"  # created, waiting for a concurrency slot
    RUNNING = "running"  # holds a slot; the model conversation is under way
    COMPLETED = "completed"  # finished with an output (delivery may still be pending)
    FAILED = "failed"  # finished without an output; ``error`` says why


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # a completed run whose destinations have not all answered yet
    DELIVERED = "delivered"  # every destination accepted the output
    FAILED = "failed"  # a destination refused or never answered; the output is kept


class OutboxStatus(StrEnum):
    """One destination's row in the delivery outbox (the run's ``deliveries`` items)."""

    PENDING = "pending"  # due at next_attempt_at (now, or after a retry delay)
    DELIVERED = "delivered"  # the receiver accepted it
    FAILED = "failed"  # refused for good, or the retry schedule ran out
    SKIPPED = "skipped"  # deliverOn said no (the reason is kept)


class Trigger(StrEnum):
    MANUAL = "manual"  # POST /tasks/{id}/run
    SCHEDULE = "schedule"  # the scheduler, on time
    CATCHUP = "catchup"  # the scheduler, for a slot missed by more than a minute


FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED})
UNFINISHED = frozenset({RunStatus.PENDING, RunStatus.RUNNING})

RUN_TRANSITIONS: Mapping[RunStatus | None, frozenset[RunStatus]] = {
    # created as: pending (manual, or no slot free), running (the scheduler took a
    # slot in the claim), failed (refused before it started: budget exceeded)
    None: frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.FAILED}),
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED}),  # failed: interrupted
    RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.FAILED}),
    RunStatus.COMPLETED: frozenset(),  # final: a completed run keeps its output
    RunStatus.FAILED: frozenset(),  # final
}

DELIVERY_TRANSITIONS: Mapping[DeliveryStatus | None, frozenset[DeliveryStatus]] = {
    # asked for: pending, or delivered at once when deliverOn skipped every destination
    None: frozenset({DeliveryStatus.PENDING, DeliveryStatus.DELIVERED}),
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED}),
    DeliveryStatus.DELIVERED: frozenset({DeliveryStatus.PENDING}),  # redeliver: send again
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),  # redeliver: try again
}


class IllegalTransition(Conflict):
    """A status change the transition table does not allow (a bug, or a stale request)."""


def _shown(state: object) -> str:
    return "(new)" if state is None else str(state)


def _check(table: Mapping[Any, frozenset[Any]], frm: Any, to: Any, what: str,
           field: str) -> None:
    allowed = table[frm]
    if to not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing: it is final"
        raise IllegalTransition(
            f"{what} cannot go from {_shown(frm)} to {to} (from {_shown(frm)} it may "
            f"become {options})", field=field)


def check_run_transition(frm: RunStatus | None, to: RunStatus) -> None:
    """Raise ``IllegalTransition`` unless a run may go from ``frm`` to ``to``."""
    _check(RUN_TRANSITIONS, frm, to, "a run", "status")


def check_delivery_transition(frm: DeliveryStatus | None, to: DeliveryStatus) -> None:
    """Raise ``IllegalTransition`` unless a delivery may go from ``frm`` to ``to``."""
    _check(DELIVERY_TRANSITIONS, frm, to, "a delivery", "deliveryStatus")


def sources_of(to: RunStatus) -> frozenset[RunStatus]:
    """Every existing status from which a run may become ``to`` (for bulk changes)."""
    return frozenset(s for s, targets in RUN_TRANSITIONS.items()
                     if s is not None and to in targets)
