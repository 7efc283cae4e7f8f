"""Tasks over the real socket: CRUD, guide spellings, attach/detach, seed shapes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from promptlyd.config import DEFAULT_MODEL
from tests.shapes import check_like_seed

ORG = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"  # the seeds' example organization id


def make_skill(api: httpx.Client, name: str, content: str = "Be brief.") -> dict:
    r = api.post("/api/promptly/skills", json={"name": name, "content": content})
    assert r.status_code == 201, r.text
    return r.json()


def make_source(api: httpx.Client, name: str) -> dict:
    r = api.post("/api/promptly/sources", json={
        "name": name, "type": "local", "config": {"paths": ["/tmp"]}})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_with_reference_fields_has_the_seed_shape(api: httpx.Client) -> None:
    skill = make_skill(api, "Style")
    source = make_source(api, "Notes")
    body = {
        "name": "Morning brief", "organizationId": ORG, "prompt": "Summarize {{current_date}}",
        "model": "openai/gpt-4o-mini", "schedule": "weekly", "scheduleDays": ["monday", "friday"],
        "scheduleTime": "07:30", "timezone": "Europe/Berlin", "deliveryEmail": True,
        "deliveryEmailAddress": "me@example.com", "deliverySms": False,
        "deliveryPhoneNumber": "+4915112345678",
        "destinations": [{"type": "webhook", "value": "https://example.com/hook", "label": "h"}],
        "skillIds": [skill["id"]], "sourceIds": [source["id"]],
    }
    r = api.post("/api/promptly/tasks", json=body)
    assert r.status_code == 201, r.text
    task = r.json()
    check_like_seed("task", task)
    for key in ("name", "prompt", "model", "schedule", "scheduleDays", "scheduleTime",
                "timezone", "deliveryEmail", "deliveryEmailAddress", "deliverySms",
                "deliveryPhoneNumber", "destinations", "skillIds", "sourceIds"):
        assert task[key] == body[key], key
    assert task["status"] == "active" and task["isActive"] is True
    assert task["lastRunAt"] is None
    assert task["nextRunAt"] is not None
    assert [s["id"] for s in task["skills"]] == [skill["id"]]
    assert task["skills"][0]["content"] == "Be brief."
    assert [s["id"] for s in task["sources"]] == [source["id"]]
    assert task["createdAt"] == task["updatedAt"]
    # Read back: identical, and in the list.
    assert api.get(f"/api/promptly/tasks/{task['id']}").json() == task
    listed = api.get("/api/promptly/tasks", params={"organizationId": ORG}).json()
    assert listed == [task]


def test_sdk_minimal_create_uses_defaults(api: httpx.Client) -> None:
    # seed 000: tasks.create({name: 'x', organizationId: '182bd5e5-…', prompt: 'x'})
    r = api.post("/api/promptly/tasks", json={"name": "x", "organizationId": ORG, "prompt": "x"})
    assert r.status_code == 201, r.text
    task = r.json()
    check_like_seed("task", task)
    health = api.get("/api/promptly/health").json()
    # no schedule given: daily at the default 09:00 in the task's zone (not stored as a value)
    assert task["schedule"] == "daily" and "scheduleTime" not in task
    local = datetime.fromisoformat(task["nextRunAt"].replace("Z", "+00:00")).astimezone(
        ZoneInfo(task["timezone"]))
    assert (local.hour, local.minute) == (9, 0)
    assert task["model"] == DEFAULT_MODEL
    assert task["timezone"] == health["timezone"]
    assert task["organizationId"] == health["organizationId"]
    assert task["skillIds"] == [] and task["sourceIds"] == []
    assert "cronExpression" not in task and "destinations" not in task


def test_guide_spellings_are_accepted(api: httpx.Client) -> None:
    s1, s2 = make_skill(api, "one"), make_skill(api, "two")
    src = make_source(api, "src")
    # seed 002: the guide's create call
    r = api.post("/api/promptly/tasks", json={
        "name": "Weekly Report", "prompt": "Generate a summary of this week's key metrics...",
        "modelId": "anthropic/claude-sonnet-4-5", "frequency": "weekly",
        "scheduledDay": "monday", "scheduledTime": "09:00", "isActive": True,
        "skills": [s2["id"], s1["id"]], "sources": [src["id"]],
    })
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["model"] == "anthropic/claude-sonnet-4-5"
    assert task["schedule"] == "weekly"
    assert task["scheduleDays"] == ["monday"]
    assert task["scheduleTime"] == "09:00"
    assert task["status"] == "active"
    assert task["skillIds"] == [s2["id"], s1["id"]]  # attach order kept
    assert task["sourceIds"] == [src["id"]]
    r = api.post("/api/promptly/tasks", json={
        "name": "every 2h", "prompt": "p", "frequency": "hourly", "hourlyInterval": 2})
    assert r.status_code == 201 and r.json()["hourlyInterval"] == 2
    r = api.post("/api/promptly/tasks", json={
        "name": "once", "prompt": "p", "frequency": "once", "scheduledDate": "2099-02-15",
        "scheduledTime": "15:00", "timezone": "UTC"})
    assert r.status_code == 201, r.text
    assert r.json()["scheduledDate"] == "2099-02-15"
    assert r.json()["nextRunAt"] == "2099-02-15T15:00:00.000Z"
    # isActive false → paused; the guide's update call
    tid = task["id"]
    r = api.patch(f"/api/promptly/tasks/{tid}", json={"prompt": "Updated instructions...",
                                                       "isActive": False})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paused" and r.json()["isActive"] is False
    assert r.json()["nextRunAt"] is None
    # sources: [...] on update replaces
    r = api.patch(f"/api/promptly/tasks/{tid}", json={"sources": []})
    assert r.json()["sourceIds"] == [] and r.json()["sources"] == []


def test_patch_leaves_absent_fields_alone(api: httpx.Client) -> None:
    skill = make_skill(api, "s")
    task = api.post("/api/promptly/tasks", json={
        "name": "n", "prompt": "p", "schedule": "daily", "scheduleTime": "06:00",
        "timezone": "America/New_York", "skillIds": [skill["id"]],
        "cronExpression": "0 7 * * 1-5"}).json()
    r = api.patch(f"/api/promptly/tasks/{task['id']}", json={"name": "renamed"})
    assert r.status_code == 200
    after = r.json()
    assert after["name"] == "renamed"
    for key in task:
        if key not in ("name", "updatedAt"):
            assert after[key] == task[key], key
    # explicit null clears an optional field; the schedule falls back to daily 06:00
    after = api.patch(f"/api/promptly/tasks/{task['id']}", json={"cronExpression": None}).json()
    assert "cronExpression" not in after
    assert after["nextRunAt"] != task["nextRunAt"]
    assert api.get(f"/api/promptly/tasks/{task['id']}").json() == after


def test_pause_resume_complete(api: httpx.Client) -> None:
    task = api.post("/api/promptly/tasks", json={"name": "n", "prompt": "p"}).json()
    tid = task["id"]
    paused = api.patch(f"/api/promptly/tasks/{tid}", json={"status": "paused"}).json()
    assert paused["nextRunAt"] is None and paused["isActive"] is False
    resumed = api.patch(f"/api/promptly/tasks/{tid}", json={"status": "active"}).json()
    assert resumed["nextRunAt"] == task["nextRunAt"]
    done = api.patch(f"/api/promptly/tasks/{tid}", json={"status": "completed"}).json()
    assert done["status"] == "completed" and done["nextRunAt"] is None


def test_attach_detach_skills_and_sources(api: httpx.Client) -> None:
    a, b, c = make_skill(api, "a"), make_skill(api, "b"), make_skill(api, "c")
    src = make_source(api, "files")
    tid = api.post("/api/promptly/tasks", json={"name": "n", "prompt": "p"}).json()["id"]
    for skill in (b, a, c):
        r = api.post(f"/api/promptly/tasks/{tid}/skills", json={"skillId": skill["id"]})
        assert r.status_code == 204, r.text
    # attaching again is harmless and keeps the order
    assert api.post(f"/api/promptly/tasks/{tid}/skills",
                    json={"skillId": a["id"]}).status_code == 204
    task = api.get(f"/api/promptly/tasks/{tid}").json()
    assert task["skillIds"] == [b["id"], a["id"], c["id"]]
    assert [s["name"] for s in task["skills"]] == ["b", "a", "c"]
    assert api.delete(f"/api/promptly/tasks/{tid}/skills/{a['id']}").status_code == 204
    assert api.get(f"/api/promptly/tasks/{tid}").json()["skillIds"] == [b["id"], c["id"]]
    r = api.delete(f"/api/promptly/tasks/{tid}/skills/{a['id']}")
    assert r.status_code == 404 and r.json()["error"]["field"] == "skillId"

    assert api.post(f"/api/promptly/tasks/{tid}/sources",
                    json={"sourceId": src["id"]}).status_code == 204
    assert api.get(f"/api/promptly/tasks/{tid}").json()["sourceIds"] == [src["id"]]
    assert api.delete(f"/api/promptly/tasks/{tid}/sources/{src['id']}").status_code == 204
    assert api.get(f"/api/promptly/tasks/{tid}").json()["sourceIds"] == []

    # deleting a skill detaches it from every task
    assert api.delete(f"/api/promptly/skills/{b['id']}").status_code == 204
    assert api.get(f"/api/promptly/tasks/{tid}").json()["skillIds"] == [c["id"]]


def test_delete_task_takes_its_runs(api: httpx.Client, daemon) -> None:  # type: ignore[no-untyped-def]
    from tests.rows import insert_run

    tid = api.post("/api/promptly/tasks", json={"name": "n", "prompt": "p"}).json()["id"]
    run_id = insert_run(daemon, tid, status="completed", output="hello")
    assert api.get(f"/api/promptly/runs/{run_id}").status_code == 200
    r = api.delete(f"/api/promptly/tasks/{tid}")
    assert r.status_code == 200 and r.json() == {"success": True}
    assert api.get(f"/api/promptly/tasks/{tid}").status_code == 404
    assert api.get(f"/api/promptly/runs/{run_id}").status_code == 404
    r = api.delete(f"/api/promptly/tasks/{tid}")
    assert r.status_code == 404
    assert tid in r.json()["error"]["message"]
