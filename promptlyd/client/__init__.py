"""The Python client of promptlyd, mirroring the TypeScript SDK of the hosted API.

    from promptlyd.client import Promptly

    client = Promptly()                       # finds the daemon's socket like the daemon does
    task = client.promptly.tasks.create(name="Morning brief", prompt="Summarize …",
                                        schedule="daily", schedule_time="07:30")
    run = client.promptly.runs.wait(client.promptly.tasks.run(task.id).id, timeout=300)
    print(run.output)

Names follow the SDK in Python spelling (``listRuns`` → ``list_runs``, ``organizationId``
→ ``organization_id``); keyword arguments are sent camelCased. Results are the frozen
dataclasses of ``promptlyd.client.types``; errors the exceptions of
``promptlyd.client.errors``. httpx is imported on the first request, not on import.
"""

from __future__ import annotations

import builtins
import errno
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import quote

from promptlyd.client.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ClientConfigError,
    ConflictError,
    DaemonNotRunning,
    InternalServerError,
    NotAvailableError,
    NotFoundError,
    PermissionDeniedError,
    PromptlyError,
    RunWaitTimeout,
    status_error,
)
from promptlyd.client.events import EventsResource, EventStream, LiveEvent
from promptlyd.client.types import (
    APIObject,
    AuthConfig,
    BillingSession,
    BillingStatus,
    Destination,
    Frontmatter,
    Health,
    Model,
    Schedule,
    Skill,
    Source,
    SourceConfig,
    SourceTestResult,
    SourceType,
    Stats,
    Task,
    TaskDeleteResponse,
    TaskRun,
    TaskStatus,
    Tool,
    camel,
    parse_time,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthConfig",
    "BadRequestError",
    "BillingSession",
    "BillingStatus",
    "ClientConfigError",
    "ConflictError",
    "DaemonNotRunning",
    "Destination",
    "EventStream",
    "Frontmatter",
    "Health",
    "InternalServerError",
    "LiveEvent",
    "Model",
    "NotAvailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "Promptly",
    "PromptlyError",
    "RunWaitTimeout",
    "Skill",
    "Source",
    "SourceConfig",
    "SourceTestResult",
    "Stats",
    "Task",
    "TaskDeleteResponse",
    "TaskRun",
    "Tool",
    "parse_time",
]

API = "/api/promptly"


# --- parameters ----------------------------------------------------------------------

DestinationParam = Destination | Mapping[str, Any] | str


class TaskParams(TypedDict, total=False):
    """Optional task fields. ``None`` clears a field on update; absent = left alone."""

    organization_id: str | None
    model: str
    schedule: Schedule
    schedule_time: str | None
    schedule_days: builtins.list[str] | None
    timezone: str
    cron_expression: str | None
    hourly_interval: int | None
    scheduled_date: str | None
    status: TaskStatus
    destinations: builtins.list[DestinationParam] | None
    skill_ids: builtins.list[str]
    source_ids: builtins.list[str]
    delivery_email: bool | None
    delivery_email_address: str | None
    delivery_sms: bool | None
    delivery_phone_number: str | None
    catch_up_window_hours: float | None
    # the guide's spellings (the daemon maps them)
    model_id: str
    frequency: Schedule
    scheduled_day: str | builtins.list[str]
    scheduled_days: builtins.list[str]
    scheduled_time: str | None
    is_active: bool
    sources: builtins.list[str]
    skills: builtins.list[str]


class TaskUpdateParams(TaskParams, total=False):
    name: str
    prompt: str


class SourceParams(TypedDict, total=False):
    organization_id: str | None
    auth_type: str | None
    auth_config: Mapping[str, Any] | None
    description: str | None
    icon_url: str | None
    slug: str


class SourceUpdateParams(SourceParams, total=False):
    name: str
    config: SourceConfig | Mapping[str, Any]
    is_active: bool


class SkillParams(TypedDict, total=False):
    organization_id: str | None
    category: str | None
    description: str | None
    frontmatter: Mapping[str, Any] | None
    icon_url: str | None
    is_public: bool | None
    is_user_invocable: bool | None
    slug: str


class SkillUpdateParams(SkillParams, total=False):
    name: str
    content: str


def _object(value: Any) -> Any:
    """A nested object parameter: dataclass → JSON; a mapping's own keys camelCased."""
    if value is None:
        return None
    if isinstance(value, APIObject):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {camel(str(k)): v for k, v in value.items()}
    return value


_NESTED_PARAMS = frozenset({"config", "auth_config", "frontmatter"})


def _body(params: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments → the JSON body: camelCase keys, nested objects converted."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "destinations" and value is not None:
            value = [_object(d) for d in value]
        elif key in _NESTED_PARAMS:
            value = _object(value)
        out[camel(key)] = value
    return out


def _query(**params: Any) -> dict[str, Any]:
    return {camel(k): v for k, v in params.items() if v is not None}


def _path(*parts: str) -> str:
    """``API/parts…`` with every id percent-encoded (model ids hold slashes)."""
    out = [API]
    for part in parts:
        if not isinstance(part, str) or not part:
            raise ValueError(f"expected a non-empty id string, got {part!r}")
        out.append(quote(part, safe=""))
    return "/".join(out)


# --- the client ----------------------------------------------------------------------


class Promptly:
    """A connection to the local promptlyd over its Unix socket.

    The socket is ``socket_path``, else ``$PROMPTLY_SOCKET``, else the config file's
    ``socket`` (``config_path``, ``$PROMPTLY_CONFIG`` or the XDG default), else
    ``$XDG_RUNTIME_DIR/promptly/promptlyd.sock``: the same rule as the daemon's.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        config_path: str | os.PathLike[str] | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        if socket_path is None:
            from promptlyd.config import load_config
            from promptlyd.errors import ConfigError

            try:
                config = load_config(Path(config_path) if config_path is not None else None)
            except ConfigError as exc:
                raise ClientConfigError(str(exc)) from exc
            self.socket_path = config.socket
        else:
            self.socket_path = Path(socket_path).expanduser()
        self.timeout = timeout
        self._http: httpx.Client | None = None
        self.promptly = PromptlyResource(self)

    # plumbing

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._probe()
            self._http = httpx.Client(
                transport=httpx.HTTPTransport(uds=str(self.socket_path)),
                base_url="http://localhost",
                timeout=self.timeout,
                headers={"accept": "application/json"},
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Promptly:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _probe(self) -> None:
        """Connect once ourselves, so a dead daemon is reported without leaking a socket.

        (httpcore does not close its socket when a Unix-socket connect fails.)
        """
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(self.timeout)
            probe.connect(str(self.socket_path))
        except TimeoutError as exc:
            raise APITimeoutError(
                f"promptlyd at {self.socket_path} did not accept a connection within "
                f"{self.timeout}s") from exc
        except OSError as exc:
            raise self._connect_error(exc) from exc
        finally:
            probe.close()

    def _connect_error(self, exc: Exception) -> APIConnectionError:
        where = str(self.socket_path)
        if not os.path.exists(where):
            return DaemonNotRunning(where)
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, OSError) and cause.errno is not None:
                if cause.errno == errno.ECONNREFUSED:
                    return DaemonNotRunning(where, stale=True)
                if cause.errno in (errno.EACCES, errno.EPERM):
                    return APIConnectionError(
                        f"permission denied on {where}: the socket belongs to another user; "
                        "run your own daemon or point PROMPTLY_SOCKET elsewhere")
                if cause.errno == errno.ENOENT:
                    return DaemonNotRunning(where)
            cause = cause.__cause__ or cause.__context__
        return APIConnectionError(f"cannot connect to promptlyd at {where}: {exc}")

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; the parsed JSON answer (None for 204), or a typed error."""
        import httpx

        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = dict(params)
        if json is not None:
            kwargs["json"] = json
        try:
            response = self._client().request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"promptlyd did not answer {method} {path} within {self.timeout}s") from exc
        except httpx.ConnectError as exc:
            raise self._connect_error(exc) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(
                f"the connection to promptlyd at {self.socket_path} failed: {exc}") from exc
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if response.status_code >= 400:
            raise status_error(response.status_code, body, response.text)
        if response.content and body is None:
            raise APIResponseValidationError(
                f"{method} {path}: expected JSON, got {response.text[:200]!r}")
        return body

    def health(self) -> Health:
        """``GET /health``: the daemon's version, pid, uptime, zone and database."""
        return Health.from_dict(self.request("GET", _path("health")))


class _Resource:
    def __init__(self, client: Promptly) -> None:
        self._client = client

    def _get(self, path: str, **params: Any) -> Any:
        return self._client.request("GET", path, params=_query(**params))


class TaskSourcesResource(_Resource):
    def attach(self, task_id: str, *, source_id: str, organization_id: str | None = None
               ) -> None:
        """Attach a source to a task (harmless if already attached)."""
        body = _query(source_id=source_id, organization_id=organization_id)
        self._client.request("POST", _path("tasks", task_id, "sources"), json=body)

    def detach(self, source_id: str, *, task_id: str) -> None:
        """Detach a source from a task (the seed's order: the source id first)."""
        self._client.request("DELETE", _path("tasks", task_id, "sources", source_id))


class TaskSkillsResource(_Resource):
    def attach(self, task_id: str, *, skill_id: str, organization_id: str | None = None
               ) -> None:
        """Attach a skill to a task; skills are prepended in the order attached."""
        body = _query(skill_id=skill_id, organization_id=organization_id)
        self._client.request("POST", _path("tasks", task_id, "skills"), json=body)

    def detach(self, skill_id: str, *, task_id: str) -> None:
        """Detach a skill from a task (the seed's order: the skill id first)."""
        self._client.request("DELETE", _path("tasks", task_id, "skills", skill_id))


class TasksResource(_Resource):
    def __init__(self, client: Promptly) -> None:
        super().__init__(client)
        self.sources = TaskSourcesResource(client)
        self.skills = TaskSkillsResource(client)

    def list(self, *, organization_id: str | None = None) -> builtins.list[Task]:
        return Task.from_list(self._get(_path("tasks"), organization_id=organization_id))

    def create(self, *, name: str, prompt: str, **fields: Unpack[TaskParams]) -> Task:
        """Create a task; unset fields take the daemon's defaults (daily 09:00, …)."""
        body = _body({"name": name, "prompt": prompt, **fields})
        return Task.from_dict(self._client.request("POST", _path("tasks"), json=body))

    def retrieve(self, task_id: str) -> Task:
        return Task.from_dict(self._get(_path("tasks", task_id)))

    def update(self, task_id: str, **fields: Unpack[TaskUpdateParams]) -> Task:
        """Change only the fields passed; ``None`` clears an optional one."""
        body = _body(fields)
        return Task.from_dict(self._client.request("PATCH", _path("tasks", task_id), json=body))

    def delete(self, task_id: str) -> TaskDeleteResponse:
        """Delete a task and all its run history."""
        return TaskDeleteResponse.from_dict(
            self._client.request("DELETE", _path("tasks", task_id)))

    def run(self, task_id: str) -> TaskRun:
        """Run now, whatever the schedule; returns the run at once (pending or running)."""
        return TaskRun.from_dict(self._client.request("POST", _path("tasks", task_id, "run")))

    def list_runs(self, task_id: str, *, limit: int | None = None) -> builtins.list[TaskRun]:
        """The task's runs, newest first (``limit`` defaults to 100 on the daemon)."""
        return TaskRun.from_list(self._get(_path("tasks", task_id, "runs"), limit=limit))

    def next(self, task_id: str, *, n: int = 10) -> dict[str, Any]:
        """The next ``n`` fire times: ``{description, timezone, fireTimes: [{at, local}]}``."""
        result: dict[str, Any] = self._get(_path("tasks", task_id, "next"), n=n)
        return result


class RunsResource(_Resource):
    def list(self, *, organization_id: str | None = None, limit: int | None = None
             ) -> builtins.list[TaskRun]:
        """Runs of every task, newest first (the guide's ``runs.list``)."""
        return TaskRun.from_list(
            self._get(_path("runs"), organization_id=organization_id, limit=limit))

    def retrieve(self, run_id: str) -> TaskRun:
        return TaskRun.from_dict(self._get(_path("runs", run_id)))

    def get(self, run_id: str) -> TaskRun:
        """The guide's spelling of ``retrieve``."""
        return self.retrieve(run_id)

    def redeliver(self, run_id: str) -> TaskRun:
        """Queue every destination of a finished run again; the run (delivery pending)."""
        return TaskRun.from_dict(
            self._client.request("POST", _path("runs", run_id, "redeliver")))

    def wait(
        self, run: str | TaskRun, *, timeout: float = 600.0, poll_interval: float = 0.05,
        max_poll_interval: float = 0.5,
    ) -> TaskRun:
        """Poll until the run is completed or failed; ``RunWaitTimeout`` after ``timeout`` s.

        The interval starts at ``poll_interval`` and grows to ``max_poll_interval``.
        A failed run is returned, not raised: check ``run.status``.
        """
        run_id = run if isinstance(run, str) else run.id
        if not run_id:
            raise ValueError("wait() needs a run id")
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            current = self.retrieve(run_id)
            if current.finished:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RunWaitTimeout(
                    f"run {run_id} is still {current.status} after {timeout:g}s", current)
            time.sleep(min(interval, remaining))
            interval = min(interval * 1.5, max_poll_interval)

    def follow(self, run: str | TaskRun, *, timeout: float = 600.0) -> TaskRun:
        """Like ``wait``, but told by the event stream the moment the run finishes (no
        polling); ``RunWaitTimeout`` after ``timeout`` s. A failed run is returned."""
        run_id = run if isinstance(run, str) else run.id
        if not run_id:
            raise ValueError("follow() needs a run id")
        deadline = time.monotonic() + timeout
        heartbeat = max(1, min(15, int(timeout / 4) or 1))
        with EventsResource(self._client).stream(types=("run.completed", "run.failed"),
                                                 heartbeat=heartbeat) as events:
            current = self.retrieve(run_id)  # after subscribing: its end cannot slip by
            if current.finished:
                return current
            for event in events:
                if event.data.get("runId") == run_id or event.type == "dropped":
                    current = self.retrieve(run_id)
                    if current.finished:
                        return current
                if time.monotonic() >= deadline:
                    break
            else:  # the stream ended: the daemon stopped
                current = self.retrieve(run_id)
                if current.finished:
                    return current
        raise RunWaitTimeout(f"run {run_id} is still {current.status} after {timeout:g}s",
                             current)


class SourcesResource(_Resource):
    def list(self, *, organization_id: str | None = None) -> builtins.list[Source]:
        return Source.from_list(self._get(_path("sources"), organization_id=organization_id))

    def create(
        self, *, name: str, type: SourceType, config: SourceConfig | Mapping[str, Any],
        **fields: Unpack[SourceParams],
    ) -> Source:
        """``config`` keys may be snake_case (``base_url``) or camelCase (``baseUrl``)."""
        body = _body({"name": name, "type": type, "config": config, **fields})
        return Source.from_dict(self._client.request("POST", _path("sources"), json=body))

    def retrieve(self, source_id: str) -> Source:
        return Source.from_dict(self._get(_path("sources", source_id)))

    def update(self, source_id: str, **fields: Unpack[SourceUpdateParams]) -> Source:
        body = _body(fields)
        return Source.from_dict(
            self._client.request("PATCH", _path("sources", source_id), json=body))

    def delete(self, source_id: str) -> None:
        self._client.request("DELETE", _path("sources", source_id))

    def test(self, source_id: str) -> SourceTestResult:
        """Connect and list the tools; a failure is ``success=False`` with the reason."""
        return SourceTestResult.from_dict(
            self._client.request("POST", _path("sources", source_id, "test")))


class SkillsResource(_Resource):
    def list(self, *, organization_id: str | None = None) -> builtins.list[Skill]:
        return Skill.from_list(self._get(_path("skills"), organization_id=organization_id))

    def create(self, *, name: str, content: str, **fields: Unpack[SkillParams]) -> Skill:
        body = _body({"name": name, "content": content, **fields})
        return Skill.from_dict(self._client.request("POST", _path("skills"), json=body))

    def retrieve(self, skill_id: str) -> Skill:
        return Skill.from_dict(self._get(_path("skills", skill_id)))

    def update(self, skill_id: str, **fields: Unpack[SkillUpdateParams]) -> Skill:
        body = _body(fields)
        return Skill.from_dict(self._client.request("PATCH", _path("skills", skill_id), json=body))

    def delete(self, skill_id: str) -> None:
        self._client.request("DELETE", _path("skills", skill_id))


class ModelsResource(_Resource):
    def list(self) -> builtins.list[Model]:
        return Model.from_list(self._get(_path("models")))

    def retrieve(self, model_id: str) -> Model:
        """``provider/model`` (slashes and all) or a bare catalog name."""
        return Model.from_dict(self._get(_path("models", model_id)))


class BillingResource(_Resource):
    def get_status(self, *, organization_id: str | None = None) -> BillingStatus:
        """This month's runs and cost against the config's optional budgets."""
        return BillingStatus.from_dict(
            self._get(_path("billing", "status"), organization_id=organization_id))

    def create_checkout(self, *, organization_id: str | None = None) -> BillingSession:
        """Always ``NotAvailableError`` locally: there is no paid plan."""
        body = _query(organization_id=organization_id)
        return BillingSession.from_dict(
            self._client.request("POST", _path("billing", "checkout"), json=body))

    def create_portal(self, *, organization_id: str | None = None) -> BillingSession:
        """Always ``NotAvailableError`` locally: there is no paid plan."""
        body = _query(organization_id=organization_id)
        return BillingSession.from_dict(
            self._client.request("POST", _path("billing", "portal"), json=body))


class PromptlyResource(_Resource):
    """``client.promptly``: the API's resources, as in the SDK."""

    def __init__(self, client: Promptly) -> None:
        super().__init__(client)
        self.tasks = TasksResource(client)
        self.runs = RunsResource(client)
        self.sources = SourcesResource(client)
        self.skills = SkillsResource(client)
        self.models = ModelsResource(client)
        self.billing = BillingResource(client)
        self.events = EventsResource(client)

    def list_runs(self, *, organization_id: str | None = None, limit: int | None = None
                  ) -> builtins.list[TaskRun]:
        """Runs of every task, newest first."""
        return self.runs.list(organization_id=organization_id, limit=limit)

    def get_stats(self, *, organization_id: str | None = None) -> Stats:
        """Counts of tasks, active tasks, runs, successes, failures, tokens and cost."""
        return Stats.from_dict(self._get(_path("stats"), organization_id=organization_id))
