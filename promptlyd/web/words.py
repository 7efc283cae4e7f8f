"""A task's schedule in words, from its API shape (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DAY_ORDER = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _days(days: list[str]) -> str:
    ordered = sorted({d.lower() for d in days},
                     key=lambda d: DAY_ORDER.index(d) if d in DAY_ORDER else 7)
    if ordered == list(DAY_ORDER[:5]):
        return "weekdays"
    if ordered == list(DAY_ORDER[5:]):
        return "weekends"
    return ", ".join(d.capitalize() for d in ordered)


def schedule_words(task: Mapping[str, Any]) -> str:
    """``daily at 09:00``, ``weekly on Monday, Friday at 17:00``, ``every 2 hours``…"""
    if task.get("cronExpression"):
        return f"cron {task['cronExpression']}"
    kind = task.get("schedule", "daily")
    at = task.get("scheduleTime")
    days = task.get("scheduleDays") or []
    if kind == "hourly":
        n = task.get("hourlyInterval") or 1
        every = "every hour" if n == 1 else f"every {n} hours"
        return f"{every} from {at}" if at else every
    if kind == "once":
        date = task.get("scheduledDate")
        when = " ".join(p for p in (date, at) if p)
        return f"once, {when}" if when else "once"
    at = at or "09:00"
    if kind == "weekly":
        return f"weekly on {_days(days)} at {at}" if days else f"weekly at {at}"
    if days and len(set(days)) < 7:
        return f"daily on {_days(days)} at {at}"
    return f"daily at {at}"
