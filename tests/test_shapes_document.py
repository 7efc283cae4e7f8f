"""The OpenAPI document and the validators agree: one definition of each field.

Every field spec appears in the document with its enum and limits; every enum in the
document is the constant of the module that owns it; a value just past a documented
limit is refused by the validator naming the field, and one at the limit is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptlyd.api.openapi import document
from promptlyd.destinations.policy import DELIVER_ON
from promptlyd.errors import ValidationError
from promptlyd.runs.states import DeliveryStatus, OutboxStatus, RunStatus, Trigger
from promptlyd.scheduling import triggers
from promptlyd.shapes import common as c
from promptlyd.shapes import fields as f
from promptlyd.shapes import skills, sources, tasks

DOC = document()
SCHEMAS = DOC["components"]["schemas"]
SHAPES = [
    (tasks.TASK, "TaskCreateParams", "TaskUpdateParams"),
    (skills.SKILL, "SkillCreateParams", "SkillUpdateParams"),
    (sources.SOURCE, "SourceCreateParams", "SourceUpdateParams"),
]
SPECS = [(shape, spec) for shape, _, _ in SHAPES for spec in shape.fields]


def _ok_model(model: str, field: str) -> str:
    return model


def _parse(shape: f.Shape, body: dict[str, Any], *, creating: bool) -> Any:
    if shape is tasks.TASK:
        return tasks.parse_task_input(body, creating=creating, check_model=_ok_model)
    if shape is skills.SKILL:
        return skills.parse_skill_input(body, creating=creating)
    return sources.parse_source_input(body, creating=creating, current_type="api")


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without the ``| null`` that a nullable field adds."""
    if "anyOf" in schema and {"type": "null"} in schema["anyOf"]:
        return next(s for s in schema["anyOf"] if s != {"type": "null"})
    out = dict(schema)
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        out["type"] = types[0] if len(types) == 1 else types
    if "enum" in out:
        out["enum"] = [v for v in out["enum"] if v is not None]
    return out


@pytest.mark.parametrize(("shape", "create", "update"), SHAPES,
                         ids=[s[1].removesuffix("CreateParams") for s in SHAPES])
def test_the_documented_fields_are_the_accepted_fields(shape: f.Shape, create: str,
                                                       update: str) -> None:
    for name, creating in ((create, True), (update, False)):
        schema = SCHEMAS[name]
        assert set(schema["properties"]) == shape.allowed(creating=creating), name
        assert schema["additionalProperties"] is False
        assert schema.get("required", []) == (shape.required() if creating else [])


@pytest.mark.parametrize(("shape", "spec"), SPECS,
                         ids=[f"{shape.what[2:]}.{spec.name}" for shape, spec in SPECS])
def test_every_spec_is_documented_with_its_limits(shape: f.Shape, spec: f.FieldSpec) -> None:
    name = next(n for s, n, u in SHAPES if s is shape)
    params = SCHEMAS[name if spec.on_create else name.replace("Create", "Update")]
    for spelling in (spec.name, *spec.aliases):
        documented = params["properties"][spelling]
        assert documented.get("x-promptlyd", False) == (spec.addition or spelling != spec.name)
        plain = _plain(documented)
        assert ("null" in str(documented.get("type")) or "anyOf" in documented) == (
            spec.accepts_null), "a field that accepts null is documented so, and only it"
        if spec.same_as is not None:
            continue  # another spelling, with its own schema (checked by example below)
        if spec.enum:
            assert plain["enum"] == list(spec.enum)
        if spec.max_len is not None:
            assert plain["maxLength"] == spec.max_len
        if spec.minimum is not None:
            assert plain["minimum"] == spec.minimum
        if spec.maximum is not None:
            assert plain["maximum"] == spec.maximum
        if spec.max_items is not None:
            assert plain["maxItems"] == spec.max_items


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        if "enum" in node:
            yield path, node["enum"]
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


RUN_STATUSES = tuple(s.value for s in RunStatus)
DELIVERY_STATUSES = tuple(s.value for s in DeliveryStatus)
TRIGGERS = tuple(t.value for t in Trigger)
# Each documented enum, by the property that carries it → the constant of its owner.
OWNERS: dict[str, tuple[str, ...]] = {
    "schedule": triggers.SCHEDULES, "frequency": triggers.SCHEDULES,
    "scheduleDays": triggers.WEEKDAYS, "scheduledDays": triggers.WEEKDAYS,
    "scheduledDay": triggers.WEEKDAYS,
    "Task/properties/status": tasks.STATUSES, "Params/properties/status": tasks.STATUSES,
    "Destination/properties/type": tasks.DESTINATION_TYPES,
    "Source/properties/type": sources.TYPES, "SourceCreateParams/properties/type": sources.TYPES,
    "authType": sources.AUTH_TYPES, "transport": sources.TRANSPORTS,
    "TaskRun/properties/status": RUN_STATUSES,
    "deliveryStatus": DELIVERY_STATUSES, "trigger": TRIGGERS, "deliverOn": DELIVER_ON,
    "plan": ("free", "paid"),  # the hosted reference's plans; the local daemon is "free"
}


def test_every_enum_in_the_document_is_its_owners_constant() -> None:
    enums = list(_walk(DOC))
    assert len(enums) >= 20
    for path, values in enums:
        owner = next((v for k, v in OWNERS.items() if re.search(rf"{k}(/|$)", path)), None)
        assert owner is not None, f"{path}: no owning constant known for this enum"
        assert [v for v in values if v is not None] == list(owner), path


def test_the_schedule_limits_are_the_triggers_own() -> None:
    create = SCHEMAS["TaskCreateParams"]["properties"]
    assert _plain(create["hourlyInterval"])["maximum"] == triggers.MAX_INTERVAL_HOURS
    assert _plain(create["scheduleTime"])["pattern"] == triggers.TIME_PATTERN
    for hh in range(24):
        for mm in (0, 59):
            assert re.fullmatch(triggers.TIME_PATTERN, f"{hh:02d}:{mm:02d}")
            assert triggers.parse_time(f"{hh:02d}:{mm:02d}") == (hh, mm)
    for bad in ("24:00", "9:00", "12:60", "0900"):
        assert not re.fullmatch(triggers.TIME_PATTERN, bad)
        with pytest.raises(ValidationError):
            triggers.parse_time(bad)


def test_the_slug_pattern_is_the_validators() -> None:
    documented = SCHEMAS["SkillCreateParams"]["properties"]["slug"]["pattern"]
    assert documented == c.SLUG_PATTERN
    assert c.slug("a-b1", "slug") == "a-b1"
    with pytest.raises(ValidationError):
        c.slug("Not A Slug", "slug")


def _minimal(shape: f.Shape) -> dict[str, Any]:
    return {"task": {"name": "n", "prompt": "p"}, "skill": {"name": "n", "content": "c"},
            "source": {"name": "n", "type": "api", "config": {}}}[shape.what[2:]]


LIMITED = [(shape, spec) for shape, spec in SPECS
           if spec.max_len is not None or spec.maximum is not None or spec.minimum is not None
           or spec.max_items is not None]


@pytest.mark.parametrize(("shape", "spec"), LIMITED,
                         ids=[f"{shape.what[2:]}.{spec.name}" for shape, spec in LIMITED])
def test_a_value_past_a_documented_limit_is_refused_naming_the_field(
        shape: f.Shape, spec: f.FieldSpec) -> None:
    over: list[Any] = []
    if spec.max_len is not None:
        over.append("x" * (spec.max_len + 1))
    if spec.maximum is not None:
        over.append(int(spec.maximum) + 1)
    if spec.minimum is not None:
        over.append(int(spec.minimum) - 1)
    if spec.max_items is not None:
        over.append(["monday"] * (spec.max_items + 1))
    creating = spec.on_create
    for value in over:
        body = {**(_minimal(shape) if creating else {}), spec.name: value}
        with pytest.raises(ValidationError) as caught:
            _parse(shape, body, creating=creating)
        assert caught.value.field == spec.name, (value, caught.value.message)


@pytest.mark.parametrize(("name", "value"), [
    ("name", "x" * 200), ("prompt", "p" * 200_000), ("hourlyInterval", 168),
    ("hourlyInterval", 1), ("catchUpWindowHours", 0), ("catchUpWindowHours", 8784),
    ("scheduleDays", ["monday"] * 28), ("scheduledDay", "friday"), ("isActive", False),
])
def test_a_value_at_a_documented_limit_is_accepted(name: str, value: Any) -> None:
    parsed = tasks.parse_task_input({"name": "n", "prompt": "p", name: value}, creating=True,
                                    check_model=_ok_model)
    assert parsed.values[tasks.TASK.canonical(name)] is not None


def test_the_document_names_every_route_module_error_status() -> None:
    """Each status the error classes give (400/404/409/501) appears in the document."""
    statuses = {code for ops in DOC["paths"].values() for op in ops.values()
                for code in op["responses"]}
    assert {"400", "404", "409", "501"} <= statuses


def test_the_database_agrees_with_the_enums() -> None:
    """The store's CHECK constraints allow exactly the documented values."""
    sql = (Path(__file__).parents[1] / "promptlyd" / "store" / "schema.py").read_text()
    checks = {column: tuple(re.findall(r"'([^']+)'", values))
              for column, values in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", sql)}
    assert checks["schedule"] == triggers.SCHEDULES
    assert checks["type"] == sources.TYPES
    assert checks["delivery_status"] == DELIVERY_STATUSES
    assert checks["trigger"] == TRIGGERS
    statuses = [tuple(re.findall(r"'([^']+)'", m))
                for m in re.findall(r"CHECK \(status IN \(([^)]*)\)\)", sql)]
    assert sorted(statuses) == sorted([tasks.STATUSES, RUN_STATUSES,
                                       tuple(s.value for s in OutboxStatus)])
