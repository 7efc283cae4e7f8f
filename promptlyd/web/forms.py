"""HTML form fields ↔ the API's JSON (pure). The form's field names are the API's."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Single-valued task fields, as the form names them (= the API's names).
TASK_TEXT = ("name", "prompt", "model", "schedule", "scheduleTime", "hourlyInterval",
             "scheduledDate", "cronExpression", "timezone")
# The schedule's fields (a preview is of these).
SCHEDULE_FORM = ("schedule", "scheduleTime", "scheduleDays", "hourlyInterval",
                 "scheduledDate", "cronExpression", "timezone")
# Fields that a blank on the edit form clears (the API takes null for them).
CLEARABLE = ("scheduleTime", "hourlyInterval", "scheduledDate", "cronExpression",
             "scheduleDays", "destinations")
# API field names that a form shows under another name.
FORM_NAME = {"skillIds": "skills", "sourceIds": "sources", "modelId": "model",
             "frequency": "schedule", "scheduledTime": "scheduleTime",
             "scheduledDay": "scheduleDays", "scheduledDays": "scheduleDays"}


def task_body(single: Mapping[str, str], multi: Mapping[str, Sequence[str]], *,
              creating: bool) -> dict[str, Any]:
    """The create/PATCH body for what the task form sent. Blank fields are left out of a
    create and cleared by an edit; the API validates everything else as sent."""
    body: dict[str, Any] = {}
    for key in TASK_TEXT:
        raw = single.get(key, "")
        value = raw if key == "prompt" else raw.strip()
        if value == "":
            if not creating and key in CLEARABLE:
                body[key] = None
            continue
        body[key] = int(value) if key == "hourlyInterval" and value.isdigit() else value
    days = list(multi.get("scheduleDays", ()))
    if days:
        body["scheduleDays"] = days
    elif not creating:
        body["scheduleDays"] = None
    body["skills"] = list(multi.get("skills", ()))
    body["sources"] = list(multi.get("sources", ()))
    destinations = [line.strip() for line in single.get("destinations", "").splitlines()
                    if line.strip()]
    if destinations:
        body["destinations"] = destinations
    elif not creating:
        body["destinations"] = None
    return body


def form_field(api_field: str | None) -> str | None:
    """The form field an API error names: ``destinations[1].value`` → ``destinations``."""
    if not api_field:
        return None
    head = re.split(r"[.\[]", api_field, maxsplit=1)[0]
    return FORM_NAME.get(head, head)


def task_values(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task (API shape) as the form's initial values."""
    values: dict[str, Any] = {k: task.get(k) if task.get(k) is not None else ""
                              for k in TASK_TEXT}
    values["scheduleDays"] = list(task.get("scheduleDays") or [])
    values["skills"] = list(task.get("skillIds") or [])
    values["sources"] = list(task.get("sourceIds") or [])
    values["destinations"] = "\n".join(str(d.get("value", "")) for d in
                                       task.get("destinations") or [] if isinstance(d, dict))
    return values


def posted_values(single: Mapping[str, str], multi: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What the user typed, to show the form again beside an error."""
    values: dict[str, Any] = {k: single.get(k, "") for k in TASK_TEXT}
    values["destinations"] = single.get("destinations", "")
    for key in ("scheduleDays", "skills", "sources"):
        values[key] = list(multi.get(key, ()))
    return values
