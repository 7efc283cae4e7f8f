"""``GET /api/promptly/openapi.json``: the machine-readable contract (OpenAPI 3.1).

Schemas follow the seeds' reference field for field; promptlyd's additions are
marked ``x-promptlyd: true``. A test checks that every route the app serves
is described here and vice versa.
"""

from __future__ import annotations

from typing import Any

from promptlyd import __version__
from promptlyd.runs.states import DeliveryStatus, RunStatus, Trigger

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


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


DESTINATION = _obj({
    "type": {"type": "string", "enum": ["email", "sms", "webhook"]},
    "value": {"type": "string", "description": "Email address, phone number, or webhook URL"},
    "label": {"type": "string"},
}, ["type", "value"])

TOOL = _obj({"description": {"type": "string"}, "inputSchema": {},
             "name": {"type": "string"}}, additional=True)

SOURCE_CONFIG = _obj({
    "args": {"type": "array", "items": {"type": "string"}},
    "baseUrl": {"type": "string", "format": "uri"},
    "command": {"type": "string"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "transport": {"type": "string", "enum": ["stdio", "http", "websocket"]},
    "url": {"type": "string", "format": "uri"},
    "paths": _add({"type": "array", "items": {"type": "string"},
                   "description": "Folders a local source may read"}),
    "cwd": _add({"type": "string"}),
})

AUTH_TYPES = ["none", "oauth", "bearer", "basic", "header", "query", "api_key", "composio"]

SKILL = _obj({
    "id": UUID, "content": {"type": "string"}, "name": {"type": "string"},
    "category": {"type": "string"}, "createdAt": TIME, "description": {"type": "string"},
    "frontmatter": _obj({"author": {"type": "string"},
                         "requiredSources": {"type": "array", "items": {"type": "string"}},
                         "tags": {"type": "array", "items": {"type": "string"}}}),
    "iconUrl": {"type": "string", "format": "uri"}, "isPublic": {"type": "boolean"},
    "isUserInvocable": {"type": "boolean"}, "organizationId": UUID,
    "slug": {"type": "string"}, "updatedAt": TIME, "version": {"type": "number"},
    "problem": _add({"type": "string", "description": "Why the skill file could not be used"}),
    "path": _add({"type": "string", "description": "The skill's file in the skills folder"}),
}, ["id", "content", "name"])

SOURCE = _obj({
    "id": UUID, "config": SOURCE_CONFIG, "name": {"type": "string"},
    "type": {"type": "string", "enum": ["mcp", "api", "local"]},
    "authConfig": _obj({"headerName": {"type": "string"}, "prefix": {"type": "string"},
                        "provider": {"type": "string"},
                        "secretName": _add({"type": "string"}),
                        "username": _add({"type": "string"}),
                        "paramName": _add({"type": "string"})}),
    "authType": {"type": "string", "enum": AUTH_TYPES},
    "composioConnected": {"type": "boolean"}, "composioToolkit": {"type": "string"},
    "createdAt": TIME, "description": {"type": "string"},
    "iconUrl": {"type": "string", "format": "uri"}, "isActive": {"type": "boolean"},
    "lastConnectedAt": TIME, "organizationId": UUID, "slug": {"type": "string"},
    "tools": {"type": "array", "items": TOOL}, "updatedAt": TIME,
}, ["id", "config", "name", "type"])

TASK_FIELDS: dict[str, Any] = {
    "cronExpression": {"type": "string"},
    "deliveryEmail": {"type": "boolean"},
    "deliveryEmailAddress": {"type": "string", "format": "email"},
    "deliveryPhoneNumber": {"type": "string"},
    "deliverySms": {"type": "boolean"},
    "destinations": {"type": "array", "items": DESTINATION},
    "model": {"type": "string"},
    "schedule": {"type": "string", "enum": ["once", "hourly", "daily", "weekly"]},
    "scheduleDays": {"type": "array", "items": {"type": "string", "enum": DAYS}},
    "scheduleTime": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
    "timezone": {"type": "string", "description": "IANA timezone"},
    "hourlyInterval": _add({"type": "integer", "minimum": 1, "maximum": 168}),
    "scheduledDate": _add({"type": "string", "format": "date"}),
    "catchUpWindowHours": _add({"type": "number", "minimum": 0}),
    "deliverOn": _add({"type": "string", "enum": ["always", "changed", "failure"],
                       "description": "Which finished runs are delivered (default always)"}),
}
GUIDE_SPELLINGS: dict[str, Any] = {
    "modelId": _add({"type": "string", "description": "= model"}),
    "frequency": _add({"type": "string", "description": "= schedule"}),
    "scheduledDay": _add({"description": "= scheduleDays (a day or an array)"}),
    "scheduledTime": _add({"type": "string", "description": "= scheduleTime"}),
    "isActive": {"type": "boolean", "description": "= status active/paused"},
    "skills": _add({"type": "array", "items": {"type": "string"}, "description": "= skillIds"}),
    "sources": _add({"type": "array", "items": {"type": "string"},
                     "description": "= sourceIds"}),
}

TASK = _obj({
    "id": UUID, "createdAt": TIME, "model": {"type": "string"}, "name": {"type": "string"},
    "prompt": {"type": "string"},
    "schedule": TASK_FIELDS["schedule"],
    "status": {"type": "string", "enum": ["active", "paused", "completed"]},
    **{k: v for k, v in TASK_FIELDS.items() if k not in ("model", "schedule")},
    "isActive": _add({"type": "boolean"}),
    "lastRunAt": {"type": ["string", "null"], "format": "date-time"},
    "nextRunAt": {"type": ["string", "null"], "format": "date-time"},
    "organizationId": UUID,
    "skillIds": {"type": "array", "items": UUID}, "skills": {"type": "array", "items": SKILL},
    "sourceIds": {"type": "array", "items": UUID},
    "sources": {"type": "array", "items": SOURCE},
    "updatedAt": TIME, "userId": {"type": "string"},
}, ["id", "createdAt", "model", "name", "prompt", "schedule", "status"])

TASK_CREATE = _obj({
    "name": {"type": "string"}, "organizationId": UUID, "prompt": {"type": "string"},
    **TASK_FIELDS,
    "status": {"type": "string", "enum": ["active", "paused"]},
    "skillIds": {"type": "array", "items": UUID}, "sourceIds": {"type": "array", "items": UUID},
    **GUIDE_SPELLINGS,
}, ["name", "prompt"])

TASK_UPDATE = _obj({
    "name": {"type": "string"}, "prompt": {"type": "string"}, **TASK_FIELDS,
    "status": {"type": "string", "enum": ["active", "paused", "completed"]},
    "skillIds": {"type": "array", "items": UUID}, "sourceIds": {"type": "array", "items": UUID},
    "organizationId": UUID, **GUIDE_SPELLINGS,
})

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
    "Task": TASK, "TaskCreateParams": TASK_CREATE, "TaskUpdateParams": TASK_UPDATE,
    "TaskRun": RUN, "Skill": SKILL, "Source": SOURCE, "Tool": TOOL, "Destination": DESTINATION,
    "Model": MODEL, "Stats": STATS, "BillingStatus": BILLING, "Error": ERROR,
    "SkillCreateParams": _obj({
        "content": {"type": "string"}, "name": {"type": "string"}, "organizationId": UUID,
        "category": {"type": "string"}, "description": {"type": "string"},
        "frontmatter": {"type": "object"}, "iconUrl": {"type": "string", "format": "uri"},
        "isPublic": {"type": "boolean"}, "isUserInvocable": {"type": "boolean"},
        "slug": {"type": "string"}}, ["content", "name"]),
    "SkillUpdateParams": _obj({
        "category": {"type": "string"}, "content": {"type": "string"},
        "description": {"type": "string"}, "frontmatter": {"type": "object"},
        "isPublic": {"type": "boolean"}, "name": {"type": "string"},
        "iconUrl": {"type": "string", "format": "uri"}, "isUserInvocable": {"type": "boolean"},
        "organizationId": UUID}),
    "SourceCreateParams": _obj({
        "config": SOURCE_CONFIG, "name": {"type": "string"}, "organizationId": UUID,
        "type": {"type": "string", "enum": ["mcp", "api", "local"]},
        "authConfig": {"type": "object"}, "authType": {"type": "string", "enum": AUTH_TYPES},
        "description": {"type": "string"}, "iconUrl": {"type": "string", "format": "uri"},
        "slug": {"type": "string"}}, ["config", "name", "type"]),
    "SourceUpdateParams": _obj({
        "authConfig": {"type": "object"}, "authType": {"type": "string", "enum": AUTH_TYPES},
        "config": SOURCE_CONFIG, "description": {"type": "string"},
        "isActive": {"type": "boolean"}, "name": {"type": "string"},
        "iconUrl": {"type": "string", "format": "uri"}, "organizationId": UUID}),
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
LIMIT_Q = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 10000,
                                    "default": 100}, required=False)


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
                                           params=[ORG_Q], ok=_json(_ref("Stats")))},
        "/api/promptly/tasks": {
            "get": _op("List all tasks", "listTasks", params=[ORG_Q], ok=_array("Task")),
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
                        errors=(404,))},
        "/api/promptly/tasks/{taskId}/runs": {
            "get": _op("Run history of a task", "listTaskRuns", params=[tid, LIMIT_Q],
                       ok=_array("TaskRun"), errors=(400, 404))},
        "/api/promptly/tasks/{taskId}/next": {
            "get": _add(_op("The next n fire times, in UTC and the task's zone", "previewTask",
                            params=[tid, _param("n", "query", {"type": "integer", "minimum": 1,
                                                               "maximum": 1000, "default": 10},
                                                required=False)],
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
            "get": _op("List sources", "listSources", params=[ORG_Q], ok=_array("Source")),
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
            "get": _op("List skills", "listSkills", params=[ORG_Q], ok=_array("Skill")),
            "post": _op("Create a skill", "createSkill", body="SkillCreateParams",
                        ok=_json(_ref("Skill"), "Created"), status="201", errors=(400, 409)),
        },
        "/api/promptly/skills/{skillId}": {
            "get": _op("Get a skill", "retrieveSkill", params=[kid], ok=_json(_ref("Skill")),
                       errors=(404,)),
            "patch": _op("Update a skill", "updateSkill", params=[kid],
                         body="SkillUpdateParams", ok=_json(_ref("Skill")), errors=(400, 404)),
            "delete": _op("Delete a skill", "deleteSkill", params=[kid], status="204",
                          errors=(404,)),
        },
        "/api/promptly/models": {"get": _op("List models (catalog + discovered local models)",
                                            "listModels", ok=_array("Model"))},
        "/api/promptly/models/{modelId}": {
            "get": _op("Get a model (slashes as they are or percent-encoded)", "retrieveModel",
                       params=[_param("modelId", schema={"type": "string"})],
                       ok=_json(_ref("Model")), errors=(404,))},
        "/api/promptly/billing/status": {
            "get": _op("This month's usage against the config's budget", "getBillingStatus",
                       params=[ORG_Q], ok=_json(_ref("BillingStatus")))},
        "/api/promptly/billing/checkout": {
            "post": _op("Not available in local mode", "createCheckout", status="501",
                        ok=_json(_ref("Error"), "Not available in local mode"))},
        "/api/promptly/billing/portal": {
            "post": _op("Not available in local mode", "createPortal", status="501",
                        ok=_json(_ref("Error"), "Not available in local mode"))},
        "/api/promptly/health": {
            "get": _op("Daemon health", "health", ok=_json({"type": "object"}))},
        "/api/promptly/openapi.json": {
            "get": _op("This document", "openapi", ok=_json({"type": "object"}))},
    }


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
        "paths": paths(),
        "components": {"schemas": schemas},
    }
