"""Task input (create/patch, with the guide's spellings) and the Task response shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptlyd.config import MAX_CATCH_UP_WINDOW_HOURS
from promptlyd.destinations.policy import DEFAULT_DELIVER_ON, DELIVER_ON
from promptlyd.destinations.targets import effective, legacy_view
from promptlyd.scheduling import triggers as sched
from promptlyd.shapes import common as c
from promptlyd.shapes import fields as f
from promptlyd.timeutil import iso, parse_iso

# The states of a task: ``active`` is scheduled; ``paused`` is kept but not fired;
# ``completed`` is a ``once`` that has fired (it cannot be created so).
STATUSES = ("active", "paused", "completed")
DESTINATION_TYPES = ("email", "sms", "webhook")


def _destinations(spec: f.FieldSpec, value: Any, sent: str) -> list[dict[str, str]]:
    return parse_destinations(value, sent)


DESTINATIONS = f.Kind("destinations", _destinations,
                      lambda s: {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                                     "Destination"}})

# One definition of each task field: the validator and the OpenAPI document read it.
TASK = f.Shape("a task", (
    f.FieldSpec("name", f.STRING, max_len=200, strip=True, required=True, column="name"),
    f.FieldSpec("prompt", f.STRING, max_len=200_000, required=True, column="prompt"),
    f.FieldSpec("model", f.STRING, max_len=300, strip=True, aliases=("modelId",),
                column="model", description="provider/model, e.g. openai/gpt-4o-mini"),
    f.FieldSpec("schedule", f.ENUM, enum=sched.SCHEDULES, aliases=("frequency",),
                column="schedule"),
    f.FieldSpec("scheduleTime", f.TIME, aliases=("scheduledTime",), column="schedule_time",
                nullable=True),
    f.FieldSpec("scheduleDays", f.DAYS, max_items=7 * 4, aliases=("scheduledDays",),
                column="schedule_days", nullable=True),
    f.FieldSpec("scheduledDay", f.DAYS, max_items=7 * 4, same_as="scheduleDays",
                addition=True, description="= scheduleDays (a day or an array)", nullable=True),
    f.FieldSpec("hourlyInterval", f.INTERVAL, minimum=1, maximum=sched.MAX_INTERVAL_HOURS,
                addition=True, column="hourly_interval", nullable=True),
    f.FieldSpec("scheduledDate", f.DATE, addition=True, column="scheduled_date", nullable=True),
    f.FieldSpec("cronExpression", f.CRON, max_len=200, strip=True, column="cron_expression",
                nullable=True),
    f.FieldSpec("timezone", f.ZONE, max_len=100, strip=True, column="timezone",
                description="IANA timezone"),
    f.FieldSpec("status", f.ENUM, enum=STATUSES, column="status",
                description="a new task starts active or paused"),
    f.FieldSpec("isActive", f.ACTIVE, same_as="status",
                description="= status active/paused"),
    f.FieldSpec("deliveryEmail", f.BOOLEAN, column="delivery_email", nullable=True),
    f.FieldSpec("deliveryEmailAddress", f.EMAIL, column="delivery_email_address", nullable=True),
    f.FieldSpec("deliverySms", f.BOOLEAN, column="delivery_sms", nullable=True),
    f.FieldSpec("deliveryPhoneNumber", f.PHONE, column="delivery_phone_number", nullable=True),
    f.FieldSpec("destinations", DESTINATIONS,
                column="destinations", nullable=True),
    f.FieldSpec("deliverOn", f.ENUM, enum=DELIVER_ON, addition=True, column="deliver_on",
                nullable=True, description="always (default), changed or failure"),
    f.FieldSpec("catchUpWindowHours", f.NUMBER, minimum=0, maximum=MAX_CATCH_UP_WINDOW_HOURS,
                addition=True, column="catch_up_window_hours", nullable=True),
    f.FieldSpec("skillIds", f.UUIDS, aliases=("skills",)),
    f.FieldSpec("sourceIds", f.UUIDS, aliases=("sources",)),
    f.FieldSpec("organizationId", f.UUID, null_is_absent=True),
))
# API field → column.
COLUMNS = TASK.columns()
SCHEDULE_FIELDS = ("schedule", "scheduleTime", "scheduleDays", "hourlyInterval",
                   "scheduledDate", "cronExpression", "timezone")


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
    c.reject_unknown(body, TASK.allowed(creating=creating), TASK.what)
    canon: dict[str, Any] = {}
    sent_as: dict[str, str] = {}
    for key, value in body.items():
        name = TASK.canonical(key)
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
        spec = TASK.by_name[field]
        if value is None:
            if f.check_null(spec, field, creating=creating):
                out[name] = None
            continue
        out[name] = spec.check(value, field)
        if name == "model":
            out[name] = check_model(out[name], field)

    result = TaskInput(values=out)
    result.skill_ids = out.pop("skillIds", None)
    result.source_ids = out.pop("sourceIds", None)
    out.pop("organizationId", None)
    if creating:
        for required in TASK.required():
            if required not in out:
                raise c.fail(required, f"{required} is required")
        if out.get("status") == "completed":
            raise c.fail(sent_as.get("status", "status"),
                         "a new task cannot start as completed; use active or paused")
    return result


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


# Task columns shown under their API name only when set (the ``| null`` fields left out).
_OPTIONAL = (
    ("cronExpression", "cron_expression"), ("scheduleTime", "schedule_time"),
    ("hourlyInterval", "hourly_interval"), ("scheduledDate", "scheduled_date"),
    ("catchUpWindowHours", "catch_up_window_hours"),
)
_LEGACY = (("deliveryEmail", "delivery_email"), ("deliveryEmailAddress", "delivery_email_address"),
           ("deliverySms", "delivery_sms"), ("deliveryPhoneNumber", "delivery_phone_number"))


def task_to_api(
    row: Mapping[str, Any],
    *,
    organization_id: str,
    user_id: str,
    skills: Sequence[dict[str, Any]],
    sources: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The Task object. Built once, key by key (it is called 10,000 times for a list):
    ``lastRunAt``/``nextRunAt`` are always there (null when unset), the other unset
    fields are left out. No skills or sources are the empty tuple, not new empty
    lists (JSON makes ``[]`` of either): a list of 10,000 tasks then has no container
    inside its objects for the garbage collector to trace."""
    get = row.get
    status = row["status"]
    out: dict[str, Any] = {
        "id": row["id"], "createdAt": row["created_at"], "model": row["model"],
        "name": row["name"], "prompt": row["prompt"], "schedule": row["schedule"],
        "status": status, "isActive": status == "active",
        "lastRunAt": get("last_run_at"), "nextRunAt": get("next_run_at"),
        "organizationId": organization_id,
    }
    for key, col in _OPTIONAL:
        if (value := get(col)) is not None:
            out[key] = value
    if days := get("schedule_days"):
        out["scheduleDays"] = days
    out["skillIds"] = [s["id"] for s in skills] if skills else ()
    out["skills"] = skills or ()
    out["sourceIds"] = [s["id"] for s in sources] if sources else ()
    out["sources"] = sources or ()
    out["timezone"] = row["timezone"]
    out["updatedAt"] = row["updated_at"]
    out["userId"] = user_id
    _add_delivery_fields(out, row)
    return out


def _add_delivery_fields(out: dict[str, Any], row: Mapping[str, Any]) -> None:
    """``destinations`` and the legacy flags, mapped onto each other (SPEC §9)."""
    listed = row.get("destinations")
    dests = (effective(row) if listed or row.get("delivery_email") or row.get("delivery_sms")
             else [])
    if dests:
        out["destinations"] = dests
        view = legacy_view(dests, row)
        for key, _ in _LEGACY:
            if view[key] is not None:
                out[key] = view[key]
    else:
        if listed is not None:
            out["destinations"] = listed
        for key, col in _LEGACY:
            value = row.get(col)
            if value is not None:
                out[key] = value
    out["deliverOn"] = row.get("deliver_on") or DEFAULT_DELIVER_ON
