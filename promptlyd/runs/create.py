"""The one builder of a new run row (pure): every run, scheduled or manual, starts here.

``Store.insert_run`` stores what this returns; nothing else makes a run row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from promptlyd.runs.states import RUN_TRANSITIONS, RunStatus, Trigger
from promptlyd.store.db import Row
from promptlyd.timeutil import iso


def new_run(task_id: str, *, trigger: Trigger, now: datetime,
            scheduled_for: datetime | None = None, claimed: bool = False,
            refused: str | None = None, run_id: str | None = None) -> Row:
    """A run as it is created.

    ``claimed``: a slot is already taken for it, so it starts ``running`` now.
    ``refused``: why it may not run at all (budget): it is created ``failed``, never
    started (``startedAt`` stays null, and it does not count as a run used).
    """
    stamp = iso(now)
    run: Row = {"id": run_id or str(uuid.uuid4()), "task_id": task_id,
                "trigger": Trigger(trigger),
                "scheduled_for": None if scheduled_for is None else iso(scheduled_for),
                "created_at": stamp}
    if refused is not None:
        run.update(status=RunStatus.FAILED, error=refused, completed_at=stamp, duration_ms=0)
    elif claimed:
        run.update(status=RunStatus.RUNNING, started_at=stamp)
    else:
        run["status"] = RunStatus.PENDING
    assert run["status"] in RUN_TRANSITIONS[None]
    return run
