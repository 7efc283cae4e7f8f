"""Every validation rule: a 400 naming the field, and the database unchanged afterwards.

One daemon serves the whole module (starting one per case would cost a second each).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.daemon_proc import isolated_daemon
from tests.rows import dump

ORG = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d, cleanup = isolated_daemon()
    d.start()
    with d.client() as api:
        skill = api.post("/api/promptly/skills", json={"name": "s", "content": "c"}).json()
        source = api.post("/api/promptly/sources", json={
            "name": "src", "type": "api", "config": {"baseUrl": "https://example.com"}}).json()
        task = api.post("/api/promptly/tasks", json={"name": "t", "prompt": "p"}).json()
        yield {"daemon": d, "api": api, "task": task, "skill": skill, "source": source}
    cleanup()


def expect_400(shared: dict[str, Any], method: str, path: str, body: Any, field: str | None,
               *, status: int = 400) -> dict[str, Any]:
    api: httpx.Client = shared["api"]
    before = dump(shared["daemon"])
    path = path.format(task=shared["task"]["id"], skill=shared["skill"]["id"],
                       source=shared["source"]["id"])
    if isinstance(body, (bytes, str)):
        r = api.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        r = api.request(method, path, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["type"]
    if field is not None:
        assert err.get("field") == field, err
    assert dump(shared["daemon"]) == before, "a rejected request changed the database"
    return err


TASK_CASES = [
    ({"prompt": "p"}, "name"),
    ({"name": "n"}, "prompt"),
    ({"name": "", "prompt": "p"}, "name"),
    ({"name": 5, "prompt": "p"}, "name"),
    ({"name": "n", "prompt": "   "}, "prompt"),
    ({"name": "n", "prompt": "p", "organizationId": "org_abc123"}, "organizationId"),
    ({"name": "n", "prompt": "p", "scheduleTime": "25:00"}, "scheduleTime"),
    ({"name": "n", "prompt": "p", "scheduleTime": "9:5"}, "scheduleTime"),
    ({"name": "n", "prompt": "p", "scheduledTime": "12:60"}, "scheduledTime"),
    ({"name": "n", "prompt": "p", "scheduleDays": ["funday"]}, "scheduleDays"),
    ({"name": "n", "prompt": "p", "scheduleDays": "monday"}, "scheduleDays"),
    ({"name": "n", "prompt": "p", "scheduledDay": "funday"}, "scheduledDay"),
    ({"name": "n", "prompt": "p", "schedule": "monthly"}, "schedule"),
    ({"name": "n", "prompt": "p", "frequency": "yearly"}, "frequency"),
    ({"name": "n", "prompt": "p", "schedule": "hourly", "hourlyInterval": 0}, "hourlyInterval"),
    ({"name": "n", "prompt": "p", "hourlyInterval": -3}, "hourlyInterval"),
    ({"name": "n", "prompt": "p", "hourlyInterval": 1.5}, "hourlyInterval"),
    ({"name": "n", "prompt": "p", "hourlyInterval": "2"}, "hourlyInterval"),
    ({"name": "n", "prompt": "p", "timezone": "Mars/Olympus"}, "timezone"),
    ({"name": "n", "prompt": "p", "cronExpression": "61 * * * *"}, "cronExpression"),
    ({"name": "n", "prompt": "p", "cronExpression": "* * * *"}, "cronExpression"),
    ({"name": "n", "prompt": "p", "scheduledDate": "2026-02-30"}, "scheduledDate"),
    ({"name": "n", "prompt": "p", "status": "sleeping"}, "status"),
    ({"name": "n", "prompt": "p", "status": "completed"}, "status"),
    ({"name": "n", "prompt": "p", "isActive": "yes"}, "isActive"),
    ({"name": "n", "prompt": "p", "status": "active", "isActive": False}, "isActive"),
    ({"name": "n", "prompt": "p", "model": "nobody/model-x"}, "model"),
    ({"name": "n", "prompt": "p", "model": "not-a-known-model"}, "model"),
    ({"name": "n", "prompt": "p", "modelId": "openai/"}, "modelId"),
    ({"name": "n", "prompt": "p", "model": "openai/gpt-4o", "modelId": "openai/gpt-4o"},
     "modelId"),
    ({"name": "n", "prompt": "p", "deliveryEmailAddress": "not-an-email"},
     "deliveryEmailAddress"),
    ({"name": "n", "prompt": "p", "deliveryEmail": True}, "deliveryEmailAddress"),
    ({"name": "n", "prompt": "p", "deliveryEmail": "true"}, "deliveryEmail"),
    ({"name": "n", "prompt": "p", "deliverySms": True}, "deliveryPhoneNumber"),
    ({"name": "n", "prompt": "p", "deliveryPhoneNumber": "call me"}, "deliveryPhoneNumber"),
    ({"name": "n", "prompt": "p", "destinations": [{"type": "fax", "value": "1"}]},
     "destinations[0].type"),
    ({"name": "n", "prompt": "p", "destinations": [{"type": "email", "value": "x"}]},
     "destinations[0].value"),
    ({"name": "n", "prompt": "p", "destinations": [{"type": "webhook",
                                                    "value": "ftp://x.example"}]},
     "destinations[0].value"),
    ({"name": "n", "prompt": "p", "destinations": [{"value": "me@example.com"}]},
     "destinations[0].type"),
    ({"name": "n", "prompt": "p", "destinations": ["dest_email_team"]}, "destinations[0]"),
    ({"name": "n", "prompt": "p", "destinations": {"type": "email"}}, "destinations"),
    ({"name": "n", "prompt": "p", "skillIds": ["not-a-uuid"]}, "skillIds"),
    ({"name": "n", "prompt": "p", "sourceIds": "abc"}, "sourceIds"),
    ({"name": "n", "prompt": "p", "catchUpWindowHours": -1}, "catchUpWindowHours"),
    ("{\"name\": \"n\", \"prompt\": \"p\", \"catchUpWindowHours\": NaN}", "catchUpWindowHours"),
    ({"name": "n", "prompt": "p", "scheduleTme": "09:00"}, "scheduleTme"),
]


@pytest.mark.parametrize(("body", "field"), TASK_CASES)
def test_task_create_rejects(shared: dict[str, Any], body: dict[str, Any], field: str) -> None:
    err = expect_400(shared, "POST", "/api/promptly/tasks", body, field)
    assert err["type"] == "invalid_request"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"),
    ({"scheduleTime": "24:00"}, "scheduleTime"),
    ({"scheduleDays": ["mon", "funday"]}, "scheduleDays"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"cronExpression": "61 * * * *"}, "cronExpression"),
    ({"hourlyInterval": 0}, "hourlyInterval"),
    ({"status": "done"}, "status"),
    ({"deliveryEmail": True}, "deliveryEmailAddress"),
    ({"skillIds": ["00000000-0000-4000-8000-000000000000"]}, "skillIds"),
    ({"prompt": ""}, "prompt"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
])
def test_task_patch_rejects(shared: dict[str, Any], body: dict[str, Any], field: str) -> None:
    status = 404 if field == "skillIds" else 400
    expect_400(shared, "PATCH", "/api/promptly/tasks/{task}", body, field, status=status)


def test_unknown_referenced_ids_are_404_naming_the_field(shared: dict[str, Any]) -> None:
    ghost = "00000000-0000-4000-8000-000000000000"
    err = expect_400(shared, "POST", "/api/promptly/tasks",
                     {"name": "n", "prompt": "p", "sourceIds": [ghost]}, "sourceIds", status=404)
    assert ghost in err["message"]
    expect_400(shared, "POST", "/api/promptly/tasks/{task}/skills", {"skillId": ghost},
               "skillId", status=404)
    expect_400(shared, "POST", "/api/promptly/tasks/{task}/sources", {"sourceId": ghost},
               "sourceId", status=404)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/promptly/tasks/{task}/skills", {}, "skillId"),
    ("/api/promptly/tasks/{task}/skills", {"skillId": "nope"}, "skillId"),
    ("/api/promptly/tasks/{task}/sources", {"sourceId": 7}, "sourceId"),
    ("/api/promptly/tasks/{task}/sources", {"sourceId": "{source}", "x": 1}, "x"),
])
def test_attach_rejects(shared: dict[str, Any], path: str, body: dict[str, Any],
                        field: str) -> None:
    expect_400(shared, "POST", path, body, field)


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/api/promptly/skills", {"name": "n"}, "content"),
    ("POST", "/api/promptly/skills", {"content": "c"}, "name"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c", "iconUrl": "nope"},
     "iconUrl"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c", "isPublic": 1}, "isPublic"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c", "slug": "Not A Slug"},
     "slug"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c",
                                      "frontmatter": {"tags": "a,b"}}, "frontmatter.tags"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c", "frontmatter": []},
     "frontmatter"),
    ("POST", "/api/promptly/skills", {"name": "n", "content": "c",
                                      "organizationId": "x"}, "organizationId"),
    ("PATCH", "/api/promptly/skills/{skill}", {"name": ""}, "name"),
    ("PATCH", "/api/promptly/skills/{skill}", {"slug": "other"}, "slug"),
    ("POST", "/api/promptly/sources", {"name": "n", "config": {}}, "type"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "ftp", "config": {}}, "type"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp"}, "config"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": []}, "config"),
    ("POST", "/api/promptly/sources", {"type": "mcp", "config": {}}, "name"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp",
                                       "config": {"transport": "pigeon"}}, "config.transport"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp",
                                       "config": {"url": "not a url"}}, "config.url"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp",
                                       "config": {"args": "--x"}}, "config.args"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp",
                                       "config": {"env": {"A": 1}}}, "config.env.A"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "api",
                                       "config": {"baseUrl": "example.com"}}, "config.baseUrl"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {
        "command": "x", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_123"}}},
     "config.env.GITHUB_PERSONAL_ACCESS_TOKEN"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {
        "command": "x", "env": {"OPENAI_API_KEY": "sk-1"}}}, "config.env.OPENAI_API_KEY"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {
        "command": "x", "env": {"T": {"secretName": 5}}}}, "config.env.T.secretName"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "local",
                                       "config": {"paths": ["relative/dir"]}}, "config.paths"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {},
                                       "authType": "oauth"}, "authType"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {},
                                       "authType": "composio"}, "authType"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {},
                                       "authType": "magic"}, "authType"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "api",
                                       "config": {"baseUrl": "https://x.example"},
                                       "authConfig": {"token": "sk-123"}}, "authConfig.token"),
    ("POST", "/api/promptly/sources", {"name": "n", "type": "mcp", "config": {},
                                       "iconUrl": "x"}, "iconUrl"),
    ("PATCH", "/api/promptly/sources/{source}", {"isActive": "yes"}, "isActive"),
    ("PATCH", "/api/promptly/sources/{source}", {"type": "mcp"}, "type"),
    ("PATCH", "/api/promptly/sources/{source}", {"config": {"baseUrl": "nope"}},
     "config.baseUrl"),
])
def test_skill_and_source_rejects(shared: dict[str, Any], method: str, path: str,
                                  body: dict[str, Any], field: str) -> None:
    expect_400(shared, method, path, body, field)


def test_duplicate_slug_is_a_conflict(shared: dict[str, Any]) -> None:
    api: httpx.Client = shared["api"]
    r = api.post("/api/promptly/skills", json={"name": "Dup", "content": "c", "slug": "dup"})
    assert r.status_code == 201
    expect_400(shared, "POST", "/api/promptly/skills",
               {"name": "Dup 2", "content": "c", "slug": "dup"}, "slug", status=409)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_malformed_bodies(shared: dict[str, Any], body: bytes) -> None:
    expect_400(shared, "POST", "/api/promptly/tasks", body, None)


@pytest.mark.parametrize(("path", "field"), [
    ("/api/promptly/runs?limit=0", "limit"),
    ("/api/promptly/runs?limit=10001", "limit"),
    ("/api/promptly/runs?limit=ten", "limit"),
    ("/api/promptly/tasks/{task}/runs?limit=-1", "limit"),
    ("/api/promptly/tasks?organizationId=org_abc123", "organizationId"),
    ("/api/promptly/stats?organizationId=nope", "organizationId"),
])
def test_query_rejects(shared: dict[str, Any], path: str, field: str) -> None:
    expect_400(shared, "GET", path, None, field)


@pytest.mark.parametrize(("method", "path", "field"), [
    ("GET", "/api/promptly/tasks/00000000-0000-4000-8000-000000000000", "taskId"),
    ("GET", "/api/promptly/tasks/task_abc123", "taskId"),
    ("PATCH", "/api/promptly/tasks/00000000-0000-4000-8000-000000000000", "taskId"),
    ("DELETE", "/api/promptly/tasks/00000000-0000-4000-8000-000000000000", "taskId"),
    ("POST", "/api/promptly/tasks/00000000-0000-4000-8000-000000000000/run", "taskId"),
    ("GET", "/api/promptly/tasks/00000000-0000-4000-8000-000000000000/runs", "taskId"),
    ("DELETE", "/api/promptly/tasks/{task}/skills/00000000-0000-4000-8000-000000000000",
     "skillId"),
    ("DELETE", "/api/promptly/tasks/{task}/sources/{source}", "sourceId"),
    ("GET", "/api/promptly/skills/00000000-0000-4000-8000-000000000000", "skillId"),
    ("PATCH", "/api/promptly/skills/00000000-0000-4000-8000-000000000000", "skillId"),
    ("DELETE", "/api/promptly/skills/00000000-0000-4000-8000-000000000000", "skillId"),
    ("GET", "/api/promptly/sources/00000000-0000-4000-8000-000000000000", "sourceId"),
    ("PATCH", "/api/promptly/sources/00000000-0000-4000-8000-000000000000", "sourceId"),
    ("DELETE", "/api/promptly/sources/00000000-0000-4000-8000-000000000000", "sourceId"),
    ("POST", "/api/promptly/sources/00000000-0000-4000-8000-000000000000/test", "sourceId"),
    ("GET", "/api/promptly/runs/00000000-0000-4000-8000-000000000000", "runId"),
    ("GET", "/api/promptly/models/nobody/nothing", "modelId"),
])
def test_unknown_ids_are_404_naming_the_id(shared: dict[str, Any], method: str, path: str,
                                           field: str) -> None:
    body = {"name": "x"} if method == "PATCH" else None
    err = expect_400(shared, method, path, body, field, status=404)
    assert err["type"] == "not_found"
    shown = path.format(task=shared["task"]["id"], source=shared["source"]["id"],
                        skill="").rstrip("/").split("/")
    tail = shown[-2] if shown[-1] in ("run", "runs", "test") else shown[-1]
    assert tail in err["message"]


def test_unknown_endpoint_and_method(shared: dict[str, Any]) -> None:
    api: httpx.Client = shared["api"]
    r = api.get("/api/promptly/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = api.put("/api/promptly/tasks")
    assert r.status_code == 405 and "PUT" in r.json()["error"]["message"]


def test_a_once_task_in_the_past_is_refused(shared: dict[str, Any]) -> None:
    expect_400(shared, "POST", "/api/promptly/tasks",
               {"name": "n", "prompt": "p", "schedule": "once", "scheduledDate": "2020-01-01",
                "scheduleTime": "09:00"}, "scheduledDate")
    api: httpx.Client = shared["api"]
    task = api.post("/api/promptly/tasks", json={
        "name": "n", "prompt": "p", "schedule": "once", "scheduledDate": "2099-01-01"}).json()
    expect_400(shared, "PATCH", f"/api/promptly/tasks/{task['id']}",
               {"scheduledDate": "2020-01-01"}, "scheduledDate")


def test_secret_references_in_env_are_accepted(shared: dict[str, Any]) -> None:
    api: httpx.Client = shared["api"]
    r = api.post("/api/promptly/sources", json={"name": "gh", "type": "mcp", "config": {
        "command": "x", "env": {"GITHUB_TOKEN": {"secretName": "github"}, "LOG_LEVEL": "info",
                                "EMPTY_TOKEN": ""}}})
    assert r.status_code == 201, r.text
    assert r.json()["config"]["env"]["GITHUB_TOKEN"] == {"secretName": "github"}


def test_other_uuid_spellings_find_the_same_task(shared: dict[str, Any]) -> None:
    api: httpx.Client = shared["api"]
    tid = shared["task"]["id"]
    for spelling in (tid.upper(), tid.replace("-", ""), "{" + tid + "}", "urn:uuid:" + tid):
        assert api.get(f"/api/promptly/tasks/{spelling}").json()["id"] == tid
