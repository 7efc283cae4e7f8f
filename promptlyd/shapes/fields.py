"""Field specs: one definition of each request field, read by the validator and the document.

A ``FieldSpec`` says what a field is (its ``Kind``), its limits, enum or pattern,
whether PATCH may clear it with ``null``, its other spellings and whether it is a
promptlyd addition (``x-promptlyd``). A ``Kind`` knows how to check a value — with the
precise messages of ``shapes.common`` and ``scheduling.triggers`` — and how to describe
it as JSON Schema, both from the same spec, so the OpenAPI document and the checks
cannot drift apart. A ``Shape`` is the table of one request body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from promptlyd.scheduling import triggers as sched
from promptlyd.shapes import common as c

Check = Callable[["FieldSpec", Any, str], Any]
Describe = Callable[["FieldSpec"], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """How a field of this kind is checked (``check(spec, value, field_as_sent)``) and
    described as JSON Schema (``schema(spec)``)."""

    name: str
    check: Check
    schema: Describe


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    description: str = ""
    max_len: int | None = None
    allow_empty: bool = False
    strip: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    nullable: bool = False  # PATCH may clear it with an explicit null
    null_is_absent: bool = False  # a null is taken as "not sent" (never an error)
    aliases: tuple[str, ...] = ()  # other spellings of the same value (the guide's)
    same_as: str | None = None  # another spelling with its own kind (isActive → status)
    addition: bool = False  # a promptlyd addition to the reference: x-promptlyd
    column: str | None = None  # the database column, when it has one
    required: bool = False  # on create
    on_create: bool = True
    on_patch: bool = True
    ref: str | None = None  # a component schema the document describes it with

    @property
    def canonical(self) -> str:
        return self.same_as or self.name

    @property
    def accepts_null(self) -> bool:
        return self.nullable or self.null_is_absent

    def check(self, value: Any, sent_as: str | None = None) -> Any:
        return self.kind.check(self, value, sent_as or self.name)

    def schema(self, *, request: bool = True) -> dict[str, Any]:
        out = self.kind.schema(self)
        if self.description:
            out["description"] = self.description
        if request and self.accepts_null:
            out = with_null(out)
        if self.addition:
            out["x-promptlyd"] = True
        return out


def with_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, also allowing null."""
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    types = out["type"] if isinstance(out["type"], list) else [out["type"]]
    out["type"] = [*types, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


@dataclass(frozen=True)
class Shape:
    """The fields of one request body; ``what`` names it in messages ("a task")."""

    what: str
    fields: tuple[FieldSpec, ...]
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table: dict[str, FieldSpec] = {}
        for spec in self.fields:
            for name in (spec.name, *spec.aliases):
                assert name not in table, f"{name} is defined twice in {self.what}"
                table[name] = spec
        object.__setattr__(self, "by_name", table)

    def allowed(self, *, creating: bool) -> set[str]:
        """Every spelling a create (or PATCH) body may carry."""
        return {name for spec in self.specs(creating=creating)
                for name in (spec.name, *spec.aliases)}

    def specs(self, *, creating: bool) -> Iterator[FieldSpec]:
        return (s for s in self.fields if (s.on_create if creating else s.on_patch))

    def required(self) -> list[str]:
        return [s.name for s in self.fields if s.required]

    def columns(self) -> dict[str, str]:
        return {s.name: s.column for s in self.fields if s.column is not None}

    def canonical(self, sent_as: str) -> str:
        return self.by_name[sent_as].canonical

    def parse(self, body: Any, *, creating: bool) -> dict[str, Any]:
        """A create or PATCH body of a shape without aliases (skills, sources), each
        field checked by its spec; ``organizationId`` checked and dropped. Raises
        ``ValidationError`` naming the field."""
        body = c.expect_object(body)
        c.reject_unknown(body, self.allowed(creating=creating), self.what)
        out: dict[str, Any] = {}
        for key, value in body.items():
            spec = self.by_name[key]
            if value is None:
                if check_null(spec, key, creating=creating):
                    out[key] = None
                continue
            checked = spec.check(value, key)
            if key != "organizationId":
                out[key] = checked
        if creating:
            for required in self.required():
                if required not in out:
                    raise c.fail(required, f"{required} is required")
        return out

    def document(self, *, creating: bool) -> dict[str, Any]:
        """The request body's JSON Schema."""
        props: dict[str, Any] = {}
        for spec in self.specs(creating=creating):
            props[spec.name] = spec.schema()
            for alias in spec.aliases:
                props[alias] = {**spec.schema(), "description": f"= {spec.name}",
                                "x-promptlyd": True}
        out: dict[str, Any] = {"type": "object", "properties": props}
        if creating and self.required():
            out["required"] = self.required()
        out["additionalProperties"] = False
        return out


def check_null(spec: FieldSpec, sent_as: str, *, creating: bool) -> bool:
    """A null value: True when it clears the field (PATCH), False when it is ignored;
    a field that may not be null raises."""
    if spec.nullable and not creating:
        return True
    if spec.accepts_null:
        return False
    raise c.fail(sent_as, f"{sent_as} must not be null")


# ---------------------------------------------------------------- the kinds


def _string(spec: FieldSpec, value: Any, sent: str) -> str:
    text = c.string(value, sent, max_len=spec.max_len or c.MAX_STRING,
                    allow_empty=spec.allow_empty)
    return text.strip() if spec.strip else text


def _string_schema(spec: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": spec.max_len or c.MAX_STRING}
    if spec.pattern:
        out["pattern"] = spec.pattern
    elif not spec.allow_empty:
        out["pattern"] = c.NOT_BLANK
    return out


STRING = Kind("string", _string, _string_schema)
BOOLEAN = Kind("boolean", lambda s, v, f: c.boolean(v, f), lambda s: {"type": "boolean"})


def _bounds(spec: FieldSpec, out: dict[str, Any]) -> dict[str, Any]:
    if spec.minimum is not None:
        out["minimum"] = spec.minimum
    if spec.maximum is not None:
        out["maximum"] = spec.maximum
    return out


NUMBER = Kind("number",
              lambda s, v, f: c.number(v, f, minimum=s.minimum, maximum=s.maximum),
              lambda s: _bounds(s, {"type": "number"}))
ENUM = Kind("enum", lambda s, v, f: c.enum(v, f, s.enum),
            lambda s: {"type": "string", "enum": list(s.enum)})
UUID = Kind("uuid", lambda s, v, f: c.uuid_str(v, f), lambda s: dict(c.UUID_SCHEMA))
EMAIL = Kind("email", lambda s, v, f: c.email(v, f),
             lambda s: {"type": "string", "format": "email", "maxLength": c.MAX_EMAIL})
PHONE = Kind("phone", lambda s, v, f: c.phone(v, f),
             lambda s: {"type": "string", "maxLength": c.MAX_PHONE,
                        "description": "International format, e.g. +4915112345678"})
URL = Kind("url", lambda s, v, f: c.url(v, f),
           lambda s: {"type": "string", "format": "uri", "maxLength": c.MAX_URL})
SLUG = Kind("slug", lambda s, v, f: c.slug(v, f),
            lambda s: {"type": "string", "pattern": c.SLUG_PATTERN})
OBJECT = Kind("object", lambda s, v, f: c.expect_object(v, f, what=f),
              lambda s: {"$ref": f"#/components/schemas/{s.ref}"} if s.ref
              else {"type": "object"})


def _uuids(spec: FieldSpec, value: Any, sent: str) -> list[str]:
    if isinstance(value, list):  # the expanded objects of a response, sent back
        value = [v["id"] if isinstance(v, dict) and "id" in v else v for v in value]
    return c.uuid_list(value, sent)


UUIDS = Kind("uuids", _uuids, lambda s: {"type": "array", "items": dict(c.UUID_SCHEMA)})


def _time(spec: FieldSpec, value: Any, sent: str) -> str:
    hh, mm = sched.parse_time(c.string(value, sent, max_len=10), sent)
    return f"{hh:02d}:{mm:02d}"


TIME = Kind("time", _time, lambda s: {"type": "string", "pattern": sched.TIME_PATTERN})


def _days(spec: FieldSpec, value: Any, sent: str) -> list[str]:
    if spec.same_as and isinstance(value, str):  # the guide's scheduledDay: one day
        value = [value]
    days = c.string_list(value, sent, max_items=spec.max_items or c.MAX_ITEMS)
    return list(sched.parse_days(days, sent))


def _days_schema(spec: FieldSpec) -> dict[str, Any]:
    day = {"type": "string", "enum": list(sched.WEEKDAYS)}
    array = {"type": "array", "items": day, "maxItems": spec.max_items or c.MAX_ITEMS}
    return {"anyOf": [day, array]} if spec.same_as else array


DAYS = Kind("days", _days, _days_schema)
INTERVAL = Kind("interval", lambda s, v, f: sched.parse_interval(v, f),
                lambda s: _bounds(s, {"type": "integer"}))
DATE = Kind("date",
            lambda s, v, f: sched.parse_date(c.string(v, f, max_len=10), f).isoformat(),
            lambda s: {"type": "string", "format": "date"})


def _cron(spec: FieldSpec, value: Any, sent: str) -> str:
    return sched.parse_cron(_string(spec, value, sent), sent)


CRON = Kind("cron", _cron, lambda s: {"type": "string", "maxLength": s.max_len})


def _zone(spec: FieldSpec, value: Any, sent: str) -> str:
    text = _string(spec, value, sent)
    sched.parse_zone(text, sent)
    return text


ZONE = Kind("zone", _zone, lambda s: {"type": "string", "maxLength": s.max_len})


def active_flag(spec: FieldSpec, value: Any, sent: str) -> str:
    """``isActive`` (a boolean) as the status it stands for."""
    return "active" if c.boolean(value, sent) else "paused"


ACTIVE = Kind("active", active_flag, lambda s: {"type": "boolean"})
