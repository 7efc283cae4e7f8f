"""`GET /tasks/{id}/next` and `promptly tasks next`: the schedule, shown before trusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx


def test_preview_lists_the_next_fires_in_both_zones(api: httpx.Client) -> None:
    task = api.post("/api/promptly/tasks", json={
        "name": "n", "prompt": "p", "schedule": "daily", "scheduleTime": "02:30",
        "timezone": "America/New_York", "cronExpression": "30 2 * * *"}).json()
    r = api.get(f"/api/promptly/tasks/{task['id']}/next", params={"n": 400})
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["description"] == "cron '30 2 * * *' (America/New_York)"
    fires = preview["fireTimes"]
    assert len(fires) == 400
    assert fires[0]["at"] == task["nextRunAt"]
    ats = [f["at"] for f in fires]
    assert ats == sorted(ats) and len(set(ats)) == 400
    # spring forward 2027-03-14: 02:30 does not exist and fires at 03:30 EDT (07:30Z)
    assert {"at": "2027-03-14T07:30:00.000Z", "local": "2027-03-14T03:30:00-04:00"} in fires
    # the days around it fire at 02:30 local, once each
    assert {"at": "2027-03-13T07:30:00.000Z", "local": "2027-03-13T02:30:00-05:00"} in fires
    assert {"at": "2027-03-15T06:30:00.000Z", "local": "2027-03-15T02:30:00-04:00"} in fires
    local_days = [f["local"][:10] for f in fires]
    assert len(local_days) == len(set(local_days))


def test_preview_of_a_paused_task_is_empty_and_n_is_checked(api: httpx.Client) -> None:
    task = api.post("/api/promptly/tasks", json={"name": "n", "prompt": "p",
                                                 "isActive": False}).json()
    preview = api.get(f"/api/promptly/tasks/{task['id']}/next").json()
    assert preview["fireTimes"] == [] and preview["status"] == "paused"
    for bad in ("0", "1001", "x"):
        r = api.get(f"/api/promptly/tasks/{task['id']}/next", params={"n": bad})
        assert r.status_code == 400 and r.json()["error"]["field"] == "n"
    r = api.get("/api/promptly/tasks/00000000-0000-4000-8000-000000000000/next")
    assert r.status_code == 404


def test_cli_tasks_next(api: httpx.Client, daemon: Any) -> None:
    task = api.post("/api/promptly/tasks", json={
        "name": "n", "prompt": "p", "schedule": "weekly", "scheduleDays": ["monday"],
        "scheduleTime": "08:00", "timezone": "Europe/Berlin"}).json()

    def promptly(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "promptlyd", *args], capture_output=True,
                              text=True, timeout=60, env=dict(os.environ))

    out = promptly("tasks", "next", task["id"][:8], "-n", "3")
    assert out.returncode == 0, out.stderr
    assert "weekly on monday at 08:00 (Europe/Berlin)" in out.stdout
    # each fire time in the task's zone (named), then the same instant in UTC
    lines = [line for line in out.stdout.splitlines()
             if " 08:00 CET " in line or " 08:00 CEST " in line]
    assert len(lines) == 3
    assert all(line.rstrip().endswith((" 07:00 UTC", " 06:00 UTC")) for line in lines)
    data = json.loads(promptly("--json", "tasks", "next", task["id"], "-n", "2").stdout)
    assert [f["local"][11:16] for f in data["fireTimes"]] == ["08:00", "08:00"]
