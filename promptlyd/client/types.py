"""Typed results: frozen dataclasses with snake_case attributes for the API's camelCase JSON.

Every class is built with ``Cls.from_dict(json)`` and turned back with ``.to_dict()``:
``Task.from_dict(d).to_dict() == d`` for anything the daemon sends. Keys a class does
not know (a newer daemon's additions) are kept in ``.extra`` and written back by
``to_dict``. Optional fields the daemon left out are ``None``; timestamps stay the
API's RFC 3339 strings (``2019-12-27T18:11:19.117Z``) — ``parse_time`` turns one into
an aware ``datetime``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal, Self, TypeAlias

from promptlyd.client.errors import APIResponseValidationError
from promptlyd.runs.states import FINISHED

Schedule = Literal["once", "hourly", "daily", "weekly"]
TaskStatus = Literal["active", "paused", "completed"]
# the wire's values of promptlyd.runs.states.RunStatus / DeliveryStatus, as types
RunStatus = Literal["pending", "running", "completed", "failed"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
SourceType = Literal["mcp", "api", "local"]
DestinationType = Literal["email", "sms", "webhook"]

FINISHED_RUN_STATUSES = frozenset(s.value for s in FINISHED)
_NestedTypes: TypeAlias = Mapping[str, "type[APIObject]"]


def camel(name: str) -> str:
    """``open_router_id`` → ``openRouterId``."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (``…T18:11:19.117Z``) → an aware ``datetime`` (None stays None)."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dump(value: Any) -> Any:
    if isinstance(value, APIObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class APIObject:
    """Base of the result types: ``from_dict`` / ``to_dict`` and the ``extra`` keys."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    # camelCase keys written even when None (the seeds' ``| null`` fields).
    _NULLABLE: ClassVar[frozenset[str]] = frozenset()
    # attribute → the APIObject type of its value (or of each item of a list).
    _NESTED: ClassVar[_NestedTypes] = {}

    @classmethod
    def _json_keys(cls) -> dict[str, str]:
        return {camel(f.name): f.name for f in fields(cls) if f.name != "extra"}

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build from the API's JSON object; unknown keys go to ``extra``."""
        if not isinstance(data, Mapping):
            raise APIResponseValidationError(
                f"expected a JSON object for {cls.__name__}, got {type(data).__name__}"
            )
        known = cls._json_keys()
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            attr = known.get(key)
            if attr is None:
                extra[key] = value
                continue
            nested = cls._NESTED.get(attr)
            if nested is not None and value is not None:
                if isinstance(value, list):
                    value = [nested.from_dict(item) for item in value]
                else:
                    value = nested.from_dict(value)
            kwargs[attr] = value
        try:
            return cls(**kwargs, extra=extra)
        except TypeError as exc:
            raise APIResponseValidationError(f"{cls.__name__}: {exc}") from exc

    @classmethod
    def from_list(cls, data: Any) -> list[Self]:
        if not isinstance(data, list):
            raise APIResponseValidationError(
                f"expected a JSON array of {cls.__name__}, got {type(data).__name__}"
            )
        return [cls.from_dict(item) for item in data]

    def to_dict(self) -> dict[str, Any]:
        """The camelCase JSON object this was built from (None fields left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            key = camel(f.name)
            value = getattr(self, f.name)
            if value is None and key not in self._NULLABLE:
                continue
            out[key] = _dump(value)
        out.update(_dump(self.extra))
        return out


# --- tasks -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Destination(APIObject):
    """Where a task's result goes: an email address, a phone number or a webhook URL."""

    type: DestinationType
    value: str
    label: str | None = None


@dataclass(frozen=True, kw_only=True)
class Frontmatter(APIObject):
    author: str | None = None
    required_sources: list[str] | None = None
    tags: list[str] | None = None


@dataclass(frozen=True, kw_only=True)
class Skill(APIObject):
    """Reusable Markdown instructions, prepended to a task's prompt."""

    id: str
    content: str
    name: str
    category: str | None = None
    created_at: str | None = None
    description: str | None = None
    frontmatter: Frontmatter | None = None
    icon_url: str | None = None
    is_public: bool | None = None
    is_user_invocable: bool | None = None
    organization_id: str | None = None
    slug: str | None = None
    updated_at: str | None = None
    version: int | None = None
    problem: str | None = None  # promptlyd: why the skill file could not be read
    path: str | None = None  # promptlyd: the skill's file in the skills folder

    _NESTED: ClassVar[_NestedTypes] = {"frontmatter": Frontmatter}


@dataclass(frozen=True, kw_only=True)
class Tool(APIObject):
    name: str | None = None
    description: str | None = None
    input_schema: Any = None


@dataclass(frozen=True, kw_only=True)
class SourceConfig(APIObject):
    args: list[str] | None = None
    base_url: str | None = None
    command: str | None = None
    env: dict[str, str] | None = None
    transport: Literal["stdio", "http", "websocket"] | None = None
    url: str | None = None
    paths: list[str] | None = None  # promptlyd: the folders of a ``local`` source
    cwd: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuthConfig(APIObject):
    header_name: str | None = None
    prefix: str | None = None
    provider: str | None = None
    secret_name: str | None = None  # promptlyd: the keyring secret holding the credential
    username: str | None = None
    param_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Source(APIObject):
    """A data connection whose tools a task's model may call."""

    id: str
    config: SourceConfig
    name: str
    type: SourceType
    auth_config: AuthConfig | None = None
    auth_type: str | None = None
    composio_connected: bool | None = None
    composio_toolkit: str | None = None
    created_at: str | None = None
    description: str | None = None
    icon_url: str | None = None
    is_active: bool | None = None
    last_connected_at: str | None = None
    organization_id: str | None = None
    slug: str | None = None
    tools: list[Tool] | None = None
    updated_at: str | None = None

    _NESTED: ClassVar[_NestedTypes] = {
        "config": SourceConfig, "auth_config": AuthConfig, "tools": Tool,
    }


@dataclass(frozen=True, kw_only=True)
class Task(APIObject):
    """A prompt, a model and a schedule, with its skills, sources and destinations."""

    id: str
    created_at: str
    model: str
    name: str
    prompt: str
    schedule: Schedule
    status: TaskStatus
    cron_expression: str | None = None
    delivery_email: bool | None = None
    delivery_email_address: str | None = None
    delivery_phone_number: str | None = None
    delivery_sms: bool | None = None
    destinations: list[Destination] | None = None
    last_run_at: str | None = None
    next_run_at: str | None = None
    organization_id: str | None = None
    schedule_days: list[str] | None = None
    schedule_time: str | None = None
    skill_ids: list[str] | None = None
    skills: list[Skill] | None = None
    source_ids: list[str] | None = None
    sources: list[Source] | None = None
    timezone: str | None = None
    updated_at: str | None = None
    user_id: str | None = None
    # promptlyd additions
    is_active: bool | None = None
    hourly_interval: int | None = None
    scheduled_date: str | None = None
    catch_up_window_hours: float | None = None

    _NULLABLE: ClassVar[frozenset[str]] = frozenset({"lastRunAt", "nextRunAt"})
    _NESTED: ClassVar[_NestedTypes] = {
        "destinations": Destination, "skills": Skill, "sources": Source,
    }


@dataclass(frozen=True, kw_only=True)
class TaskDeleteResponse(APIObject):
    success: bool | None = None


@dataclass(frozen=True, kw_only=True)
class TaskRun(APIObject):
    """One execution of a task: its output or error, tokens, cost, timing and delivery."""

    id: str | None = None
    completed_at: str | None = None
    cost_cents: float | None = None
    created_at: str | None = None
    delivery_status: DeliveryStatus | None = None
    duration_ms: int | None = None
    error: str | None = None
    output: str | None = None
    started_at: str | None = None
    status: RunStatus | None = None
    task_id: str | None = None
    tokens_used: int | None = None
    # promptlyd additions
    trigger: str | None = None
    scheduled_for: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_estimated: bool | None = None
    rendered_prompt: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    deliveries: list[dict[str, Any]] | None = None

    @property
    def finished(self) -> bool:
        """True once the run is ``completed`` or ``failed``."""
        return self.status in FINISHED_RUN_STATUSES


# --- the rest ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SourceTestResult(APIObject):
    success: bool | None = None
    message: str | None = None
    tools: list[Tool] | None = None

    _NESTED: ClassVar[_NestedTypes] = {"tools": Tool}


@dataclass(frozen=True, kw_only=True)
class Model(APIObject):
    id: str | None = None
    coding_index: float | None = None
    context_length: int | None = None
    intelligence_index: float | None = None
    name: str | None = None
    open_router_id: str | None = None
    output_speed: float | None = None
    power_tier: int | None = None
    provider: str | None = None
    supports_internet_search: bool | None = None
    supports_tool_calling: bool | None = None
    # promptlyd additions
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None
    local: bool | None = None
    available: bool | None = None
    availability_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Stats(APIObject):
    active_tasks: int | None = None
    failed_runs: int | None = None
    successful_runs: int | None = None
    total_cost_cents: float | None = None
    total_runs: int | None = None
    total_tasks: int | None = None
    total_tokens_used: int | None = None


@dataclass(frozen=True, kw_only=True)
class BillingStatus(APIObject):
    billing_period_start: str | None = None
    plan: Literal["free", "paid"] | None = None
    runs_limit: int | None = None  # None: unlimited
    runs_used: int | None = None
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    tasks_count: int | None = None
    tasks_limit: int | None = None
    usage_cost_cents: float | None = None
    usage_credits_cents: float | None = None
    users_count: int | None = None
    users_limit: int | None = None
    monthly_budget_cents: int | None = None  # promptlyd: config [budget]

    _NULLABLE: ClassVar[frozenset[str]] = frozenset({"runsLimit"})


@dataclass(frozen=True, kw_only=True)
class BillingSession(APIObject):
    """A checkout or portal session (never answered by a local daemon)."""

    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Health(APIObject):
    status: str | None = None
    version: str | None = None
    pid: int | None = None
    started_at: str | None = None
    uptime_seconds: float | None = None
    organization_id: str | None = None
    timezone: str | None = None
    database: str | None = None
