"""The next fire times of a schedule not saved yet: the API's own validation, no write.

The task form previews what its schedule would do. The fields are checked by
the same field table and consistency rules as ``POST /api/promptly/tasks`` (so a
``25:00`` gets the API's message, naming ``scheduleTime``); the instants come
from the same trigger math the scheduler uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from promptlyd.api.context import AppContext
from promptlyd.scheduling import triggers
from promptlyd.shapes import tasks as shape
from promptlyd.timeutil import iso, to_ms
from promptlyd.web.forms import SCHEDULE_FORM


def fire_times(body: Mapping[str, Any], ctx: AppContext, n: int) -> dict[str, Any]:
    """``{description, timezone, times: [(local, utc)], status}``; raises the API's
    ``ValidationError`` for a bad field."""
    schedule_only = {k: v for k, v in body.items() if k in SCHEDULE_FORM}
    inp = shape.parse_task_input({"name": "preview", "prompt": "preview", **schedule_only},
                                 creating=True, check_model=ctx.check_model)
    now = to_ms(ctx.clock.now())
    row: dict[str, Any] = {"schedule": "daily", "timezone": ctx.config.timezone,
                           "status": "active", "anchor_at": iso(now),
                           **shape.to_columns(inp.values)}
    shape.check_consistency(row)
    shape.compute_next_run(row, now)  # a once already past: the API's own 400
    spec = shape.spec_of(row)
    zone = ZoneInfo(row["timezone"])
    times = triggers.upcoming(spec, now, n, inclusive=True)
    return {"description": triggers.describe(spec), "timezone": row["timezone"],
            "times": [(t.astimezone(zone).isoformat(), iso(t)) for t in times],
            "status": "active"}
