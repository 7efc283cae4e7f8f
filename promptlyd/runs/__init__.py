"""Executing runs: run states and their one transition table (``states``), the
one builder of a new run (``create``), the concurrency slots (``slots``), prompt
composition (``compose``, pure) and the executor that takes a run from pending
to a recorded result (``executor``). ``Executor`` (below) is the executor's
role as the scheduler sees it; ``Outbox`` the delivery hand-off both use.

Owns a run's life from creation to its final status; it never decides *when* a
task runs (that is :mod:`promptlyd.scheduling`) and changes a run's status only
through the store's one transition function.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from promptlyd.store.db import Store


class Executor(Protocol):
    """What the scheduler needs from the executor (``runs.executor.Runner``); tests put
    an in-memory twin behind it."""

    def running_task_ids(self) -> Collection[str]:
        """Tasks with a run under way (a task never overlaps itself)."""
        ...

    def take_slots(self, up_to: int) -> int:
        """Take as many as ``up_to`` concurrency slots now; how many were taken."""
        ...

    def give_slots(self, count: int) -> None:
        """Give back slots taken with ``take_slots`` that no run was started with."""
        ...

    def launch(self, run: dict[str, Any], *, claimed: bool) -> None:
        """Execute a stored run in the background; ``claimed``: it holds one of the
        slots taken with ``take_slots`` and is ``running`` already."""
        ...


class Outbox(Protocol):
    """The delivery hand-off (``promptlyd.destinations.worker.DeliveryWorker``)."""

    def enqueue(self, store: Store, run: dict[str, Any]) -> dict[str, Any] | None:
        """Write a finished run's outbox rows, inside the write that finishes it; the
        run as it is then (with its delivery summary), None when it gets no rows."""
        ...

    def wake(self) -> None:
        """Rows were written (and committed): send them."""
        ...
