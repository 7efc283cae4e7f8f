"""``GET /api/promptly/openapi.json``: the machine-readable contract (OpenAPI 3.1).

Schemas follow the seeds' reference field for field; promptlyd's additions are
marked ``x-promptlyd: true``. Request bodies are generated from the field tables
the validators read (``shapes.fields``), and the task's response fields from the
same specs, so limits and enums cannot drift from the checks. A test checks that
every route the app serves is described here and vice versa, and another that
the document and the validators agree.
"""

from __future__ import annotations

from typing import Any

from promptlyd import __version__
from promptlyd.api import http
from promptlyd.runs.states import DeliveryStatus, RunStatus, Trigger
from promptlyd.shapes import common as c
from promptlyd.shapes import fields as f
from promptlyd.shapes import skills as skill_shape
from promptlyd.shapes import sources as source_shape
from promptlyd.shapes import tasks as task_shape

UUID = dict(c.UUID_SCHEMA)
TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None,
         additional: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if not additional:
        out["additionalProperties"] = False
    return out


def _add(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "x-promptlyd": True}


def _response(spec: f.FieldSpec) -> dict[str, Any]:
    """A field as a response describes it: the type and enum, not the input limits."""
    out = spec.schema(request=False)
    out.pop("maxLength", None)
    if out.get("pattern") == c.NOT_BLANK:
        del out["pattern"]
    return out


DESTINATION = _obj({
    "type": {"type": "string", "enum": list(task_shape.DESTINATION_TYPES)},
    "value": {"type": "string", "description": "Email address, phone number, or webhook URL"},
    "label": {"type": "string"},
}, ["type", "value"])

TOOL = _obj({"description": {"type": "string"}, "inputSchema": {},
             "name": {"type": "string"}}, additional=True)

SOURCE_CONFIG = _obj({
    "args": {"type": "array", "items": {"type": "string"}},
    "baseUrl": {"type": "string", "format": "uri"},
    "command": {"type": "string"},
    "env": {"type": "object", "additionalProperties": {"anyOf": [
        {"type": "string"},
        _add(_obj({"secretName": {"type": "string"}}, ["secretName"]))]},
        "description": "Values that look like secrets must be {secretName} references"},
    "transport": {"type": "string", "enum": list(source_shape.TRANSPORTS)},
    "url": {"type": "string", "format": "uri"},
    "paths": _add({"type": "array", "items": {"type": "string"},
                   "description": "Folders a local source may read"}),
    "cwd": _add({"type": "string"}),
})
assert set(SOURCE_CONFIG["properties"]) == source_shape.CONFIG_FIELDS

AUTH_TYPES = list(source_shape.AUTH_TYPES)
AUTH_CONFIG = _obj({
    "headerName": {"type": "string"}, "prefix": {"type": "string"},
    "provider": {"type": "string"}, "secretName": _add({"type": "string"}),
    "username": _add({"type": "string"}), "paramName": _add({"type": "string"}),
})
assert set(AUTH_CONFIG["properties"]) == source_shape.AUTH_CONFIG_FIELDS

FRONTMATTER = _obj({"author": {"type": "string"},
                    "requiredSources": {"type": "array", "items": {"type": "string"}},
                    "tags": {"type": "array", "items": {"type": "string"}}})
assert tuple(FRONTMATTER["properties"]) == skill_shape.FRONTMATTER_FIELDS

SKILL = _obj({
    "id": UUID, "content": {"type": "string"}, "name": {"type": "string"},
    "category": {"type": "string"}, "createdAt": TIME, "description": {"type": "string"},
    "frontmatter": _ref("SkillFrontmatter"),
    "iconUrl": {"type": "string", "format": "uri"}, "isPublic": {"type": "boolean"},
    "isUserInvocable": {"type": "boolean"}, "organizationId": UUID,
    "slug": {"type": "string"}, "updatedAt": TIME, "version": {"type": "number"},
    "problem": _add({"type": "string", "description": "Why the skill file could not be used"}),
    "path": _add({"type": "string", "description": "The skill's file in the skills folder"}),
}, ["id", "content", "name"])

SOURCE = _obj({
    "id": UUID, "config": _ref("SourceConfig"), "name": {"type": "string"},
    "type": {"type": "string", "enum": list(source_shape.TYPES)},
    "authConfig": _ref("SourceAuthConfig"),
    "authType": {"type": "string", "enum": AUTH_TYPES},
    "composioConnected": {"type": "boolean"}, "composioToolkit": {"type": "string"},
    "createdAt": TIME, "description": {"type": "string"},
    "iconUrl": {"type": "string", "format": "uri"}, "isActive": {"type": "boolean"},
    "lastConnectedAt": TIME, "organizationId": UUID, "slug": {"type": "string"},
    "tools": {"type": "array", "items": TOOL}, "updatedAt": TIME,
}, ["id", "config", "name", "type"])

# The input fields a task reports back, described from the validators' specs.
TASK_FIELDS: dict[str, Any] = {
    spec.name: _response(spec) for spec in task_shape.TASK.fields
    if spec.column is not None and spec.name not in ("status",)
}

TASK = _obj({
    "id": UUID, "createdAt": TIME,
    **TASK_FIELDS,
    "status": _response(task_shape.TASK.by_name["status"]),
    "isActive": _add({"type": "boolean"}),
    "lastRunAt": {"type": ["string", "null"], "format": "date-time"},
    "nextRunAt": {"type": ["string", "null"], "format": "date-time"},
    "organizationId": UUID,
    "skillIds": {"type": "array", "items": UUID},
    "skills": {"type": "array", "items": _ref("Skill")},
    "sourceIds": {"type": "array", "items": UUID},
    "sources": {"type": "array", "items": _ref("Source")},
    "updatedAt": TIME, "userId": {"type": "string"},
}, ["id", "createdAt", "model", "name", "prompt", "schedule", "status"])

RUN = _obj({
    "id": UUID, "completedAt": TIME, "costCents": {"type": "number"}, "createdAt": TIME,
    "deliveryStatus": {"type": "string", "enum": [s.value for s in DeliveryStatus]},
    "durationMs": {"type": "number"}, "error": {"type": "string"},
    "output": {"type": "string"}, "startedAt": TIME,
    "status": {"type": "string", "enum": [s.value for s in RunStatus]},
    "taskId": UUID, "tokensUsed": {"type": "number"},
    "trigger": _add({"type": "string", "enum": [t.value for t in Trigger]}),
    "scheduledFor": _add(TIME), "model": _add({"type": "string"}),
    "inputTokens": _add({"type": "number"}), "outputTokens": _add({"type": "number"}),
    "tokensEstimated": _add({"type": "boolean"}),
    "renderedPrompt": _add({"type": "string"}),
    "toolCalls": _add({"type": "array", "items": {"type": "object"}}),
    "deliveries": _add({"type": "array", "items": {"type": "object"}}),
})

MODEL = _obj({
    "id": {"type": "string"}, "codingIndex": {"type": "number"},
    "contextLength": {"type": "number"}, "intelligenceIndex": {"type": "number"},
    "name": {"type": "string"}, "openRouterId": {"type": "string"},
    "outputSpeed": {"type": "number"}, "powerTier": {"type": "number"},
    "provider": {"type": "string"}, "supportsInternetSearch": {"type": "boolean"},
    "supportsToolCalling": {"type": "boolean"},
    "inputPricePerMillion": _add({"type": "number"}),
    "outputPricePerMillion": _add({"type": "number"}),
    "local": _add({"type": "boolean"}), "available": _add({"type": "boolean"}),
    "availabilityReason": _add({"type": "string"}),
    "discovered": _add({"type": "boolean"}),
}, additional=True)

STATS = _obj({k: {"type": "number"} for k in (
    "activeTasks", "failedRuns", "successfulRuns", "totalCostCents", "totalRuns",
    "totalTasks", "totalTokensUsed")})

BILLING = _obj({
    "billingPeriodStart": TIME, "plan": {"type": "string", "enum": ["free", "paid"]},
    "runsLimit": {"type": ["number", "null"]}, "runsUsed": {"type": "number"},
    "stripeCustomerId": {"type": "string"}, "stripeSubscriptionId": {"type": "string"},
    "tasksCount": {"type": "number"}, "tasksLimit": {"type": "number"},
    "usageCostCents": {"type": "number"}, "usageCreditsCents": {"type": "number"},
    "usersCount": {"type": "number"}, "usersLimit": {"type": "number"},
    "monthlyBudgetCents": _add({"type": "number"}),
})

ERROR = _obj({"error": _obj({"type": {"type": "string"}, "message": {"type": "string"},
                             "field": {"type": "string"}}, ["type", "message"])}, ["error"])

SCHEMAS = {
    "Task": TASK,
    "TaskRun": RUN, "Skill": SKILL, "Source": SOURCE, "Tool": TOOL, "Destination": DESTINATION,
    "Model": MODEL, "Stats": STATS, "BillingStatus": BILLING, "Error": ERROR,
    "TaskCreateParams": task_shape.TASK.document(creating=True),
    "TaskUpdateParams": task_shape.TASK.document(creating=False),
    "SkillCreateParams": skill_shape.SKILL.document(creating=True),
    "SkillUpdateParams": skill_shape.SKILL.document(creating=False),
    "SkillFrontmatter": FRONTMATTER,
    "SourceCreateParams": source_shape.SOURCE.document(creating=True),
    "SourceUpdateParams": source_shape.SOURCE.document(creating=False),
    "SourceConfig": SOURCE_CONFIG, "SourceAuthConfig": AUTH_CONFIG,
    "SourceTestResponse": _obj({"message": {"type": "string"}, "success": {"type": "boolean"},
                                "tools": {"type": "array", "items": TOOL}}),
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad input (names the field)", 404: "Unknown id", 409: "Conflict",
            501: "Not available in local mode"}
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _param(name: str, where: str = "path", schema: dict[str, Any] | None = None,
           required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema or UUID}


ORG_Q = _param("organizationId", "query", UUID, required=False)
LIMIT_Q = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": http.MAX_LIMIT,
                                    "default": http.DEFAULT_LIMIT}, required=False)
N_Q = _param("n", "query", {"type": "integer", "minimum": 1, "maximum": http.MAX_PREVIEW,
                            "default": http.DEFAULT_PREVIEW}, required=False)


def _op(summary: str, op_id: str, *, params: list[dict[str, Any]] | None = None,
        body: str | None = None, ok: dict[str, Any] | None = None, status: str = "200",
        errors: tuple[int, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": op_id}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
    responses = {status: ok if ok is not None else {"description": "No content"}}
    responses.update(_errors(*errors))
    op["responses"] = responses
    return op


def _array(name: str) -> dict[str, Any]:
    return _json({"type": "array", "items": _ref(name)})


def _billing(op_id: str) -> dict[str, Any]:
    op = _op("Not available in local mode", op_id, status="501",
             ok=_json(_ref("Error"), "Not available in local mode"), errors=(400,))
    op["requestBody"] = {"required": False, "content": {"application/json": {
        "schema": _obj({"organizationId": UUID}, additional=True)}}}
    return op


def _events() -> dict[str, Any]:
    """``GET /events``: a stream (text/event-stream), so it has no JSON answer."""
    from promptlyd.api import events
    from promptlyd.events import EVENT_TYPES

    types = _param("types", "query", {
        "type": "string", "pattern": r"^[a-z*.]+(,[a-z*.]+)*$",
        "description": "Comma-separated event types or groups (run.*); absent: all. "
                       f"Types: {', '.join(EVENT_TYPES)}"}, required=False)
    heartbeat = _param("heartbeat", "query", {
        "type": "integer", "minimum": 1, "maximum": events.MAX_HEARTBEAT,
        "default": events.DEFAULT_HEARTBEAT,
        "description": "Seconds without an event before a `: heartbeat` comment"},
        required=False)
    op = _op("Live events as Server-Sent Events (run.created, run.started, …)", "streamEvents",
             params=[types, heartbeat], errors=(400,),
             ok={"description": "An endless stream: `event: TYPE` and `data: {JSON}` per "
                                "event, `event: dropped` when a slow reader missed some",
                 "content": {"text/event-stream": {"schema": {"type": "string"}}}})
    return op


def paths() -> dict[str, Any]:
    tid, sid, kid = _param("taskId"), _param("sourceId"), _param("skillId")
    return {
        "/api/promptly/runs": {"get": _op("List runs across all tasks", "listRuns",
                                          params=[ORG_Q, LIMIT_Q], ok=_array("TaskRun"),
                                          errors=(400,))},
        "/api/promptly/runs/{runId}": {"get": _op("Get a run", "getRun",
                                                  params=[_param("runId")],
                                                  ok=_json(_ref("TaskRun")), errors=(404,))},
        "/api/promptly/runs/{runId}/redeliver": {
            "post": _add(_op("Queue every destination of a finished run again", "redeliverRun",
                             params=[_param("runId")], ok=_json(_ref("TaskRun")),
                             errors=(404, 409)))},
        "/api/promptly/stats": {"get": _op("Task execution statistics", "getStats",
                                           params=[ORG_Q], ok=_json(_ref("Stats")),
                                           errors=(400,))},
        "/api/promptly/tasks": {
            "get": _op("List all tasks", "listTasks", params=[ORG_Q, LIMIT_Q],
                       ok=_array("Task"), errors=(400,)),
            "post": _op("Create a task", "createTask", body="TaskCreateParams",
                        ok=_json(_ref("Task"), "Created"), status="201", errors=(400, 404)),
        },
        "/api/promptly/tasks/{taskId}": {
            "get": _op("Retrieve a task", "retrieveTask", params=[tid], ok=_json(_ref("Task")),
                       errors=(404,)),
            "patch": _op("Update a task (absent fields are left alone)", "updateTask",
                         params=[tid], body="TaskUpdateParams", ok=_json(_ref("Task")),
                         errors=(400, 404)),
            "delete": _op("Delete a task and all its run history", "deleteTask",
                          params=[tid], ok=_json(_obj({"success": {"type": "boolean"}})),
                          errors=(404,)),
        },
        "/api/promptly/tasks/{taskId}/run": {
            "post": _op("Run a task now, regardless of its schedule", "runTask",
                        params=[tid], ok=_json(_ref("TaskRun"), "Created"), status="201",
                        errors=(404, 409, 501))},
        "/api/promptly/tasks/{taskId}/runs": {
            "get": _op("Run history of a task", "listTaskRuns", params=[tid, LIMIT_Q],
                       ok=_array("TaskRun"), errors=(400, 404))},
        "/api/promptly/tasks/{taskId}/next": {
            "get": _add(_op("The next n fire times, in UTC and the task's zone", "previewTask",
                            params=[tid, N_Q],
                            ok=_json(_obj({
                                "taskId": UUID, "status": {"type": "string"},
                                "timezone": {"type": "string"},
                                "description": {"type": "string"},
                                "fireTimes": {"type": "array", "items": _obj({
                                    "at": TIME, "local": {"type": "string"}})}})),
                            errors=(400, 404)))},
        "/api/promptly/tasks/{taskId}/sources": {
            "post": _op("Attach a source", "attachSource", params=[tid],
                        body="SourceAttachParams", status="204", errors=(400, 404))},
        "/api/promptly/tasks/{taskId}/sources/{sourceId}": {
            "delete": _op("Detach a source", "detachSource", params=[tid, sid],
                          status="204", errors=(404,))},
        "/api/promptly/tasks/{taskId}/skills": {
            "post": _op("Attach a skill", "attachSkill", params=[tid],
                        body="SkillAttachParams", status="204", errors=(400, 404))},
        "/api/promptly/tasks/{taskId}/skills/{skillId}": {
            "delete": _op("Detach a skill", "detachSkill", params=[tid, kid],
                          status="204", errors=(404,))},
        "/api/promptly/sources": {
            "get": _op("List sources", "listSources", params=[ORG_Q], ok=_array("Source"),
                       errors=(400,)),
            "post": _op("Create a source", "createSource", body="SourceCreateParams",
                        ok=_json(_ref("Source"), "Created"), status="201",
                        errors=(400, 409)),
        },
        "/api/promptly/sources/{sourceId}": {
            "get": _op("Retrieve a source", "retrieveSource", params=[sid],
                       ok=_json(_ref("Source")), errors=(404,)),
            "patch": _op("Update a source", "updateSource", params=[sid],
                         body="SourceUpdateParams", ok=_json(_ref("Source")),
                         errors=(400, 404)),
            "delete": _op("Delete a source", "deleteSource", params=[sid], status="204",
                          errors=(404,)),
        },
        "/api/promptly/sources/{sourceId}/test": {
            "post": _op("Connect, list and store the source's tools", "testSource",
                        params=[sid], ok=_json(_ref("SourceTestResponse")), errors=(404,))},
        "/api/promptly/skills": {
            "get": _op("List skills", "listSkills", params=[ORG_Q], ok=_array("Skill"),
                       errors=(400,)),
            "post": _op("Create a skill", "createSkill", body="SkillCreateParams",
                        ok=_json(_ref("Skill"), "Created"), status="201",
                        errors=(400, 409, 501)),
        },
        "/api/promptly/skills/{skillId}": {
            "get": _op("Get a skill", "retrieveSkill", params=[kid], ok=_json(_ref("Skill")),
                       errors=(404,)),
            "patch": _op("Update a skill", "updateSkill", params=[kid],
                         body="SkillUpdateParams", ok=_json(_ref("Skill")),
                         errors=(400, 404, 409, 501)),
            "delete": _op("Delete a skill", "deleteSkill", params=[kid], status="204",
                          errors=(404, 501)),
        },
        "/api/promptly/models": {"get": _op("List models (catalog + discovered local models)",
                                            "listModels", ok=_array("Model"))},
        "/api/promptly/models/{modelId}": {
            "get": _op("Get a model (slashes as they are or percent-encoded)", "retrieveModel",
                       params=[_param("modelId", schema={"type": "string"})],
                       ok=_json(_ref("Model")), errors=(404,))},
        "/api/promptly/billing/status": {
            "get": _op("This month's usage against the config's budget", "getBillingStatus",
                       params=[ORG_Q], ok=_json(_ref("BillingStatus")), errors=(400,))},
        "/api/promptly/billing/checkout": {"post": _billing("createCheckout")},
        "/api/promptly/billing/portal": {"post": _billing("createPortal")},
        "/api/promptly/health": {
            "get": _op("Daemon health", "health", ok=_json({"type": "object"}))},
        "/api/promptly/events": {"get": _add(_events())},
        "/api/promptly/dashboard/login": {
            "post": _add(_op("A one-time dashboard login link (socket only)", "dashboardLogin",
                             ok=_json(_obj({"url": {"type": "string", "format": "uri"},
                                            "expiresAt": TIME}, ["url", "expiresAt"]),
                                      "Created"),
                             status="201", errors=(501,)))},
        "/api/promptly/openapi.json": {
            "get": _op("This document", "openapi", ok=_json({"type": "object"}))},
    }


def _link(op_id: str, **params: str) -> dict[str, Any]:
    return {"operationId": op_id,
            "parameters": {name: f"$response.body#/{field}" for name, field in params.items()}}


# What a created object's id leads to: OpenAPI links, so a client (or a stateful
# fuzzer) can follow a create to the operations on what it made.
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "createTask": {name: _link(op, taskId="id") for name, op in (
        ("RetrieveTask", "retrieveTask"), ("UpdateTask", "updateTask"),
        ("DeleteTask", "deleteTask"), ("RunTask", "runTask"),
        ("ListTaskRuns", "listTaskRuns"), ("PreviewTask", "previewTask"),
        ("AttachSource", "attachSource"), ("AttachSkill", "attachSkill"))},
    "runTask": {"GetRun": _link("getRun", runId="id"),
                "RedeliverRun": _link("redeliverRun", runId="id"),
                "RetrieveTask": _link("retrieveTask", taskId="taskId")},
    "createSource": {name: _link(op, sourceId="id") for name, op in (
        ("RetrieveSource", "retrieveSource"), ("UpdateSource", "updateSource"),
        ("DeleteSource", "deleteSource"), ("TestSource", "testSource"))},
    "createSkill": {name: _link(op, skillId="id") for name, op in (
        ("RetrieveSkill", "retrieveSkill"), ("UpdateSkill", "updateSkill"),
        ("DeleteSkill", "deleteSkill"))},
}


def _with_links(all_paths: dict[str, Any]) -> dict[str, Any]:
    for item in all_paths.values():
        for op in item.values():
            links = LINKS.get(op["operationId"])
            if links:
                op["responses"]["201"]["links"] = links
    return all_paths


def document() -> dict[str, Any]:
    schemas = dict(SCHEMAS)
    schemas["SourceAttachParams"] = _obj({"sourceId": UUID, "organizationId": UUID},
                                         ["sourceId"])
    schemas["SkillAttachParams"] = _obj({"skillId": UUID, "organizationId": UUID},
                                        ["skillId"])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "promptlyd",
            "version": __version__,
            "description": "Local mirror of the 0ct Promptly REST API, served on a Unix "
                           "socket. Errors: {error: {type, message, field}}.",
        },
        "servers": [{"url": "http://localhost",
                     "description": "curl --unix-socket $PROMPTLY_SOCKET http://localhost/…"}],
        "paths": _with_links(paths()),
        "components": {"schemas": schemas},
    }
