"""Task input (create/patch, with the guide's spellings) and the Task response shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptlyd.config import MAX_CATCH_UP_WINDOW_HOURS
from promptlyd.destinations.policy import DEFAULT_DELIVER_ON, DELIVER_ON
from promptlyd.destinations.targets import effective, legacy_view
from promptlyd.scheduling import triggers as sched
from promptlyd.shapes import common as c
from promptlyd.timeutil import iso, parse_iso

STATUSES = ("active", "paused", "completed")
DESTINATION_TYPES = ("email", "sms", "webhook")

# The guide's spellings → the reference's (SPEC §3).
ALIASES = {
    "modelId": "model",
    "frequency": "schedule",
    "scheduledDay": "scheduleDays",
    "scheduledDays": "scheduleDays",
    "scheduledTime": "scheduleTime",
    "isActive": "status",
    "sources": "sourceIds",
    "skills": "skillIds",
}
# API field → column.
COLUMNS = {
    "name": "name", "prompt": "prompt", "model": "model", "schedule": "schedule",
    "scheduleTime": "schedule_time", "scheduleDays": "schedule_days",
    "hourlyInterval": "hourly_interval", "scheduledDate": "scheduled_date",
    "cronExpression": "cron_expression", "timezone": "timezone", "status": "status",
    "deliveryEmail": "delivery_email", "deliveryEmailAddress": "delivery_email_address",
    "deliverySms": "delivery_sms", "deliveryPhoneNumber": "delivery_phone_number",
    "destinations": "destinations", "catchUpWindowHours": "catch_up_window_hours",
    "deliverOn": "deliver_on",
}
SCHEDULE_FIELDS = ("schedule", "scheduleTime", "scheduleDays", "hourlyInterval",
                   "scheduledDate", "cronExpression", "timezone")
# Fields that may be cleared with an explicit null on PATCH.
NULLABLE = {"scheduleTime", "scheduleDays", "hourlyInterval", "scheduledDate", "cronExpression",
            "deliveryEmailAddress", "deliveryPhoneNumber", "destinations", "catchUpWindowHours",
            "deliveryEmail", "deliverySms", "deliverOn"}
CREATE_FIELDS = {*COLUMNS, "organizationId", "skillIds", "sourceIds"}
PATCH_FIELDS = CREATE_FIELDS


@dataclass
class TaskInput:
    """Validated input: API-named values that were sent (absent = untouched)."""

    values: dict[str, Any]
    skill_ids: list[str] | None = None
    source_ids: list[str] | None = None


def parse_task_input(
    body: Any, *, creating: bool, check_model: Callable[[str, str], str]
) -> TaskInput:
    """Validate a create or PATCH body. Raises ValidationError naming the field."""
    body = c.expect_object(body)
    allowed = CREATE_FIELDS | set(ALIASES)
    c.reject_unknown(body, allowed, "a task")
    canon: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    for key, value in body.items():
        name = ALIASES.get(key, key)
        if name in canon and sent_as[name] != key:
            other = sent_as[name]
            if name == "status" and {key, other} == {"status", "isActive"}:
                continue  # reconciled below
            raise c.fail(key, f"{key} and {other} are the same field; send only one")
        canon[name] = value
        sent_as[name] = key
    if "status" in canon and "isActive" in body and "status" in body:
        active = c.boolean(body["isActive"], "isActive")
        status = c.enum(body["status"], "status", STATUSES)
        if (status == "active") != active:
            raise c.fail("isActive", f"isActive={str(active).lower()} contradicts "
                                     f"status={status!r}")
        canon["status"] = status
        sent_as["status"] = "status"

    out: dict[str, Any] = {}
    for name, value in canon.items():
        field = sent_as[name]
        if value is None:
            if name in NULLABLE and not creating:
                out[name] = None
                continue
            if name in NULLABLE or name == "organizationId":
                continue  # null on create = not given
            raise c.fail(field, f"{field} must not be null")
        out[name] = _check_field(name, field, value, check_model)

    result = TaskInput(values=out)
    result.skill_ids = out.pop("skillIds", None)
    result.source_ids = out.pop("sourceIds", None)
    out.pop("organizationId", None)
    if creating:
        for required in ("name", "prompt"):
            if required not in out:
                raise c.fail(required, f"{required} is required")
        if out.get("status") == "completed":
            raise c.fail(sent_as.get("status", "status"),
                         "a new task cannot start as completed; use active or paused")
    return result


def _check_field(name: str, field: str, value: Any, check_model: Callable[[str, str], str]) -> Any:
    if name == "name":
        return c.string(value, field, max_len=200).strip()
    if name == "prompt":
        return c.string(value, field, max_len=200_000)
    if name == "model":
        return check_model(c.string(value, field, max_len=300).strip(), field)
    if name == "schedule":
        return c.enum(value, field, sched.SCHEDULES)
    if name == "scheduleTime":
        hh, mm = sched.parse_time(c.string(value, field, max_len=10), field)
        return f"{hh:02d}:{mm:02d}"
    if name == "scheduleDays":
        if field == "scheduledDay" and isinstance(value, str):
            value = [value]
        return list(sched.parse_days(c.string_list(value, field, max_items=7 * 4), field))
    if name == "hourlyInterval":
        return sched.parse_interval(value, field)
    if name == "scheduledDate":
        return sched.parse_date(c.string(value, field, max_len=10), field).isoformat()
    if name == "cronExpression":
        return sched.parse_cron(c.string(value, field, max_len=200).strip(), field)
    if name == "timezone":
        text = c.string(value, field, max_len=100).strip()
        sched.parse_zone(text, field)
        return text
    if name == "status":
        if field == "isActive":
            return "active" if c.boolean(value, field) else "paused"
        return c.enum(value, field, STATUSES)
    if name in ("deliveryEmail", "deliverySms"):
        return c.boolean(value, field)
    if name == "deliveryEmailAddress":
        return c.email(value, field)
    if name == "deliveryPhoneNumber":
        return c.phone(value, field)
    if name == "destinations":
        return parse_destinations(value, field)
    if name == "deliverOn":
        return c.enum(value, field, DELIVER_ON)
    if name == "catchUpWindowHours":
        return c.number(value, field, minimum=0, maximum=MAX_CATCH_UP_WINDOW_HOURS)
    if name in ("skillIds", "sourceIds"):
        if isinstance(value, list):
            value = [v["id"] if isinstance(v, dict) and "id" in v else v for v in value]
        return c.uuid_list(value, field)
    if name == "organizationId":
        return c.uuid_str(value, field)
    raise AssertionError(name)


def parse_destinations(value: Any, field: str = "destinations") -> list[dict[str, str]]:
    """Objects ``{type, value, label?}``; a bare string's type is inferred from its form."""
    if not isinstance(value, list):
        raise c.fail(field, f"{field} must be an array of {{type, value, label}} objects")
    out: list[dict[str, str]] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(item, str):
            item = {"type": _infer_destination(item, where), "value": item}
        item = c.expect_object(item, where, what=where)
        c.reject_unknown(item, ("type", "value", "label"), "a destination")
        if "type" not in item:
            raise c.fail(f"{where}.type", f"{where}.type is required (email, sms or webhook)")
        if "value" not in item:
            raise c.fail(f"{where}.value", f"{where}.value is required")
        kind = c.enum(item["type"], f"{where}.type", DESTINATION_TYPES)
        check = {"email": c.email, "sms": c.phone, "webhook": c.url}[kind]
        dest = {"type": kind, "value": check(item["value"], f"{where}.value")}
        if item.get("label") is not None:
            dest["label"] = c.string(item["label"], f"{where}.label", max_len=200)
        out.append(dest)
    return out


def _infer_destination(text: str, where: str) -> str:
    if "@" in text:
        return "email"
    if text.startswith(("http://", "https://")):
        return "webhook"
    if text.lstrip().startswith("+"):
        return "sms"
    raise c.fail(where, f"{where}: cannot tell whether {text!r} is an email address, a phone "
                        "number (+…) or a webhook URL; send {type, value} instead")


def to_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    return {COLUMNS[k]: v for k, v in values.items()}


def spec_of(row: Mapping[str, Any]) -> sched.ScheduleSpec:
    return sched.ScheduleSpec(
        schedule=row["schedule"],
        timezone=row["timezone"],
        anchor=parse_iso(row["anchor_at"]),
        schedule_time=row.get("schedule_time"),
        schedule_days=tuple(row.get("schedule_days") or ()),
        hourly_interval=row.get("hourly_interval"),
        scheduled_date=row.get("scheduled_date"),
        cron_expression=row.get("cron_expression"),
    )


def check_consistency(row: Mapping[str, Any]) -> None:
    """Cross-field rules on the merged task (create or after a PATCH)."""
    if row.get("delivery_email") and not row.get("delivery_email_address"):
        raise c.fail("deliveryEmailAddress",
                     "deliveryEmailAddress is required when deliveryEmail is true")
    if row.get("delivery_sms") and not row.get("delivery_phone_number"):
        raise c.fail("deliveryPhoneNumber",
                     "deliveryPhoneNumber is required when deliverySms is true")
    spec_of(row).validate()


def compute_next_run(row: Mapping[str, Any], now: datetime) -> str | None:
    """When the scheduler will fire this task next (ISO), or None if paused/completed.

    An active task that would never fire again (a ``once`` in the past) is refused:
    it would otherwise sit "active" with no next run.
    """
    if row["status"] != "active":
        return None
    when = sched.next_fire(spec_of(row), now, inclusive=True)
    if when is None:
        field = ("cronExpression" if row.get("cron_expression")
                 else "scheduledDate" if row.get("scheduled_date") else "scheduleTime")
        raise c.fail(field, f"this once schedule's time has passed ({sched.describe(spec_of(row))}"
                            "); choose a future date and time, or pause the task")
    return iso(when)


def task_to_api(
    row: Mapping[str, Any],
    *,
    organization_id: str,
    user_id: str,
    skills: list[dict[str, Any]],
    sources: list[dict[str, Any]],
) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "createdAt": row["created_at"],
        "model": row["model"],
        "name": row["name"],
        "prompt": row["prompt"],
        "schedule": row["schedule"],
        "status": row["status"],
        "isActive": row["status"] == "active",
        "cronExpression": row.get("cron_expression"),
        "deliveryEmail": row.get("delivery_email"),
        "deliveryEmailAddress": row.get("delivery_email_address"),
        "deliveryPhoneNumber": row.get("delivery_phone_number"),
        "deliverySms": row.get("delivery_sms"),
        "destinations": row.get("destinations"),
        "lastRunAt": row.get("last_run_at"),
        "nextRunAt": row.get("next_run_at"),
        "organizationId": organization_id,
        "scheduleDays": row.get("schedule_days") or None,
        "scheduleTime": row.get("schedule_time"),
        "hourlyInterval": row.get("hourly_interval"),
        "scheduledDate": row.get("scheduled_date"),
        "catchUpWindowHours": row.get("catch_up_window_hours"),
        "skillIds": [s["id"] for s in skills],
        "skills": skills,
        "sourceIds": [s["id"] for s in sources],
        "sources": sources,
        "timezone": row["timezone"],
        "updatedAt": row["updated_at"],
        "userId": user_id,
    }
    out.update(_delivery_fields(row))
    return c.omit_none(out, keep=("lastRunAt", "nextRunAt"))


def _delivery_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """``destinations`` and the legacy flags, mapped onto each other (SPEC §9)."""
    dests = effective(row)
    return {"destinations": dests or row.get("destinations"), **legacy_view(dests, row),
            "deliverOn": row.get("deliver_on") or DEFAULT_DELIVER_ON}
