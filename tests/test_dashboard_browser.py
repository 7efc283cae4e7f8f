"""The dashboard in real headless Chromium: log in with the link (once), the session and
CSRF guards, the task form (and the API's own error beside its field), run now and watch
the run finish, and a model's ``<script>`` that does not run. One browser per module."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard_browser import (
    WAIT_MS,
    ZONE,
    Dash,
    csrf_of,
    launch,
    logged_in,
    needs_chromium,
    playwright_running,
    screenshot,
    start_dashboard,
)
from tests.fakes.model_servers import OpenAIServer, echo, running, slow

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def dash() -> Iterator[Dash]:
    for model in running(OpenAIServer()):
        d, cleanup = start_dashboard(model)
        try:
            yield d
        finally:
            cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    for p in playwright_running():
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, dash: Dash) -> Iterator[Any]:
    context, page = logged_in(browser, dash, viewport={"width": 1100, "height": 900})
    yield page
    context.close()


def test_the_login_link_logs_in_once(browser: Any, dash: Dash) -> None:
    url = dash.login_url()
    assert re.fullmatch(re.escape(dash.base_url) + r"/login\?token=[\w-]{40,}", url)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert page.url == dash.base_url + "/"
    assert page.get_by_role("heading", name="Tasks").is_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "promptly_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # the same link a second time, from another browser: refused
    other = browser.new_context()
    again = other.new_page()
    response = again.goto(url)
    assert response is not None and response.status == 403
    assert "used already" in again.inner_text("main")
    assert not [c for c in other.cookies() if c["name"] == "promptly_session"]
    screenshot(again, "login-used")
    assert page.reload().status == 200  # the first session still works
    other.close()
    context.close()


def test_without_a_session_pages_and_the_api_are_refused(browser: Any, dash: Dash) -> None:
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(dash.base_url + "/")
    assert response is not None and response.status == 401
    assert "promptly dashboard" in page.inner_text("main")
    screenshot(page, "logged-out")
    api = context.request.get(dash.base_url + "/api/promptly/tasks")
    assert api.status == 401 and api.json()["error"]["type"] == "unauthorized"
    assert "promptly dashboard" in api.json()["error"]["message"]
    forged = context.request.get(dash.base_url + "/api/promptly/tasks",
                                 headers={"Cookie": "promptly_session=made-up"})
    assert forged.status == 401
    context.close()


def test_the_api_is_served_behind_the_session(page: Any, dash: Dash) -> None:
    r = page.context.request.get(dash.base_url + "/api/promptly/health")
    assert r.status == 200 and r.json()["status"] == "ok"
    # the login-link endpoint is the socket's alone
    r = page.context.request.post(dash.base_url + "/api/promptly/dashboard/login",
                                  headers={"X-CSRF-Token": csrf_of(page)})
    assert r.status == 404


def test_a_post_without_the_csrf_token_is_refused(page: Any, dash: Dash) -> None:
    request = page.context.request
    body = {"name": "forged", "prompt": "p"}
    r = request.post(dash.base_url + "/tasks/new", form=body)
    assert r.status == 403 and "CSRF" in r.text()
    r = request.post(dash.base_url + "/api/promptly/tasks", data=json.dumps(body),
                     headers={"Content-Type": "application/json"})
    assert r.status == 403 and r.json()["error"]["type"] == "csrf"
    r = request.post(dash.base_url + "/tasks/new", form={**body, "csrf": "wrong"})
    assert r.status == 403
    with dash.api() as api:
        assert [t for t in api.get("/api/promptly/tasks").json() if t["name"] == "forged"] == []
    # the same request with the session's token goes through: it was the token
    r = request.post(dash.base_url + "/api/promptly/tasks", data=json.dumps(body),
                     headers={"Content-Type": "application/json",
                              "X-CSRF-Token": csrf_of(page)})
    assert r.status == 201, r.text()
    with dash.api() as api:
        api.delete(f"/api/promptly/tasks/{r.json()['id']}")


def test_a_foreign_host_header_is_refused(dash: Dash, page: Any) -> None:
    """A DNS-rebinding page reaches the port under its own name: refused before anything."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "promptly_session")
    with httpx.Client(cookies={"promptly_session": cookie["value"]}) as client:
        r = client.get(dash.base_url + "/", headers={"Host": "evil.example:80"})
        assert r.status_code == 400
        assert client.get(dash.base_url + "/").status_code == 200  # the cookie is good


def test_create_a_task_through_the_form(page: Any, dash: Dash) -> None:
    page.goto(dash.base_url + "/")
    page.get_by_role("link", name="New task").click()
    page.get_by_label("Name").fill("Morning brief")
    page.get_by_label("Prompt").fill("Three things worth knowing today")
    page.get_by_label("Model").select_option("fake/fake-small")
    page.get_by_label("Repeats").select_option("daily")
    page.get_by_label("Time (HH:MM").fill("07:30")
    page.get_by_label("Time zone").fill(ZONE)
    page.get_by_label("Monday").check()  # a change: the live preview follows
    preview = page.locator("#preview")
    preview.get_by_text(f"daily at 07:30 on Monday ({ZONE})").wait_for()
    assert preview.locator("li").count() == 10
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d 07:30 CES?T", t)
               for t in preview.locator("li").all_inner_texts())
    screenshot(page, "task-form")
    page.get_by_role("button", name="Create task").click()
    page.wait_for_url(dash.base_url + "/")
    row = page.locator("tr", has_text="Morning brief")
    assert "daily on Monday at 07:30" in row.inner_text()
    with dash.api() as api:
        task = next(t for t in api.get("/api/promptly/tasks").json()
                    if t["name"] == "Morning brief")
    assert task["scheduleTime"] == "07:30" and task["scheduleDays"] == ["monday"]
    assert task["model"] == "fake/fake-small" and task["timezone"] == ZONE
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 07:30 CES?T", row.locator(".next-run").inner_text())
    screenshot(page, "tasks")


def test_the_api_error_is_shown_beside_the_time_field(page: Any, dash: Dash) -> None:
    with dash.api() as api:
        expected = api.post("/api/promptly/tasks", json={
            "name": "Bad time", "prompt": "p", "scheduleTime": "25:00"}).json()["error"]
        before = len(api.get("/api/promptly/tasks").json())
    assert expected["field"] == "scheduleTime"
    page.goto(dash.base_url + "/tasks/new")
    page.get_by_label("Name").fill("Bad time")
    page.get_by_label("Prompt").fill("p")
    page.get_by_label("Time (HH:MM").fill("25:00")
    with page.expect_response(lambda r: r.url.endswith("/tasks/new")) as answer:
        page.get_by_role("button", name="Create task").click()
    assert answer.value.status == 400
    field = page.locator(".field", has=page.locator("#f-scheduleTime"))
    assert field.locator(".field-error").inner_text() == expected["message"]
    assert page.locator("#f-scheduleTime").get_attribute("aria-invalid") == "true"
    assert page.locator("#f-scheduleTime").input_value() == "25:00"  # what was typed stays
    assert page.locator(".field-error").count() == 1
    screenshot(page, "task-form-error")
    with dash.api() as api:
        assert len(api.get("/api/promptly/tasks").json()) == before


def _task(dash: Dash, name: str, prompt: str) -> dict[str, Any]:
    with dash.api() as api:
        r = api.post("/api/promptly/tasks", json={"name": name, "prompt": prompt,
                                                  "model": "fake/fake-small"})
    assert r.status_code == 201, r.text
    task: dict[str, Any] = r.json()
    return task


def test_run_now_and_watch_it_complete(page: Any, dash: Dash) -> None:
    task = _task(dash, "Markdown digest",
                 "# Digest\n\n- **first** point\n- a [link](https://example.org/x)")
    dash.model.script([slow(120, then=echo())])  # held until released: we see it running
    page.goto(dash.base_url + "/")
    page.locator("tr", has_text="Markdown digest").get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(re.escape(dash.base_url) + r"/runs/[0-9a-f-]{36}$"))
    body = page.locator("#run-body")
    assert body.get_attribute("data-status") in ("pending", "running")
    page.locator("#run-body[data-status=running]").wait_for()
    screenshot(page, "run-running")
    url = page.url
    dash.model.release()
    page.locator("#run-body[data-status=completed]").wait_for()  # no reload: it polls
    assert page.url == url
    output = page.locator("#output")
    assert output.locator("h1").inner_text() == "Digest"
    assert output.locator("strong").inner_text() == "first"
    link = output.locator("a")
    assert link.get_attribute("href") == "https://example.org/x"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert "Markdown digest" in page.locator("main > h1").inner_text()
    screenshot(page, "run")
    with dash.api() as api:
        runs = api.get(f"/api/promptly/tasks/{task['id']}/runs").json()
    assert [r["status"] for r in runs] == ["completed"]


def test_a_script_in_the_output_does_not_run(page: Any, dash: Dash) -> None:
    evil = ('<script>window.pwned = 1</script>\n\n<img src="x" onerror="window.pwned = 2">\n\n'
            "[click](javascript:window.pwned=3)")
    task = _task(dash, "Hostile output", evil)
    with dash.api() as api:
        run = api.post(f"/api/promptly/tasks/{task['id']}/run").json()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto(f"{dash.base_url}/runs/{run['id']}")
    page.locator("#run-body[data-status=completed]").wait_for()
    output = page.locator("#output")
    assert "<script>window.pwned = 1</script>" in output.inner_text()  # shown as text
    assert output.locator("script, img, a").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    screenshot(page, "run-hostile")


def test_runs_list_filters_by_task_and_status(page: Any, dash: Dash) -> None:
    task = _task(dash, "Filtered", "hello")
    with dash.api() as api:
        run = api.post(f"/api/promptly/tasks/{task['id']}/run").json()
    page.goto(f"{dash.base_url}/runs/{run['id']}")
    page.locator("#run-body[data-status=completed]").wait_for()
    page.goto(dash.base_url + "/runs")
    page.get_by_label("Task").select_option(label="Filtered")
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/runs\?task=.*&status=completed"))
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 1 and run["id"][:8] in rows.inner_text()
    screenshot(page, "runs")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("No runs match").wait_for()


def test_edit_a_skill_and_the_file_changes_on_disk(page: Any, dash: Dash) -> None:
    with dash.api() as api:
        skill = api.post("/api/promptly/skills", json={
            "name": "House style", "content": "Be brief.", "description": "Short"}).json()
    path = dash.skills_dir / f"{skill['slug']}.md"
    assert "Be brief." in path.read_text()
    page.goto(dash.base_url + "/skills")
    page.get_by_role("link", name="House style").click()
    page.get_by_label("Instructions (Markdown)").fill("Use **three** bullets, no more.")
    page.get_by_label("Tags (comma-separated)").fill("style, brief")
    page.get_by_role("button", name="Save").click()
    page.locator("#saved").wait_for()
    text = path.read_text()
    assert "Use **three** bullets, no more." in text and "Be brief." not in text
    assert "tags:" in text and "brief" in text and "name: House style" in text
    with dash.api() as api:
        got = api.get(f"/api/promptly/skills/{skill['id']}").json()
    assert got["frontmatter"]["tags"] == ["style", "brief"] and got["version"] > skill["version"]
    screenshot(page, "skill")
    # a file broken on disk shows its problem in the list
    (dash.skills_dir / "broken.md").write_text("---\nname: [unclosed\n---\nx\n")
    deadline = time.monotonic() + WAIT_MS / 1000
    page.goto(dash.base_url + "/skills")
    while not page.locator("tr", has_text="broken").locator(".error").count():
        assert time.monotonic() < deadline, "the broken skill never showed its problem"
        page.wait_for_timeout(200)  # the folder watcher picks the file up within a second
        page.reload()
    assert "YAML" in page.locator("tr", has_text="broken").inner_text()
    screenshot(page, "skills")


def test_add_and_test_sources(page: Any, dash: Dash, tmp_path: Any) -> None:
    (tmp_path / "notes.md").write_text("hello")
    page.goto(dash.base_url + "/sources")
    page.get_by_label("Name", exact=True).fill("Notes")
    page.get_by_label("Type").select_option("local")
    page.get_by_label("Config (JSON)").fill(json.dumps({"paths": [str(tmp_path)]}))
    page.get_by_role("button", name="Add source").click()
    page.wait_for_url(re.compile(r"/sources/[0-9a-f-]{36}$"))
    page.get_by_role("button", name="Test: connect and list the tools").click()
    result = page.locator("#test-result")
    assert result.get_attribute("data-success") == "true"
    assert "list_files" in page.locator("ul.tools").inner_text()
    screenshot(page, "source")
    # a bad config: the API's message beside the field
    page.goto(dash.base_url + "/sources")
    page.get_by_label("Name", exact=True).fill("Broken")
    page.get_by_label("Config (JSON)").fill("{not json")
    page.get_by_role("button", name="Add source").click()
    assert "not valid JSON" in page.locator("#err-config").inner_text()
    # a source that cannot connect: the failure, with its reason
    page.get_by_label("Name", exact=True).fill("Missing")
    page.get_by_label("Type").select_option("mcp")
    page.get_by_label("Config (JSON)").fill(json.dumps(
        {"transport": "stdio", "command": "no-such-mcp-server-here"}))
    page.get_by_role("button", name="Add source").click()
    page.get_by_role("button", name="Test: connect and list the tools").click()
    result = page.locator("#test-result")
    assert result.get_attribute("data-success") == "false"
    assert "no-such-mcp-server-here" in result.inner_text()
    page.goto(dash.base_url + "/sources")
    assert page.locator("tr", has_text="Notes").count() == 1
    screenshot(page, "sources")


def test_stats_charts(page: Any, dash: Dash) -> None:
    with dash.api() as api:
        totals = api.get("/api/promptly/stats").json()
    page.goto(dash.base_url + "/stats")
    assert page.locator(".card").nth(1).inner_text().startswith(str(totals["totalRuns"]))
    charts = page.locator("figure.chart svg[role=img]")
    assert charts.count() == 4
    assert f"{totals['totalRuns']} over 30 days" in (charts.first.get_attribute("aria-label")
                                                       or "")
    assert page.locator("figure.chart rect.bar").count() >= 1
    screenshot(page, "stats")


def test_phone_width_pages_fit(browser: Any, dash: Dash) -> None:
    context, page = logged_in(browser, dash, viewport={"width": 390, "height": 844})
    for path in ("/", "/tasks/new", "/runs", "/skills", "/sources", "/stats"):
        page.goto(dash.base_url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            screenshot(page, "phone-overflow")
        assert overflow <= 1, (path, overflow)
    screenshot(page, "phone-tasks-new")
    page.goto(dash.base_url + "/")
    screenshot(page, "phone-tasks")
    context.close()


def test_reading_works_without_javascript(browser: Any, dash: Dash) -> None:
    context, page = logged_in(browser, dash, java_script_enabled=False)
    page.goto(dash.base_url + "/tasks/new")
    page.get_by_label("Time (HH:MM").fill("06:15")
    page.get_by_role("button", name="Preview the schedule").click()
    assert "daily at 06:15" in page.locator("#preview").inner_text()
    for path in ("/", "/runs", "/skills", "/sources", "/stats"):
        assert page.goto(dash.base_url + path).status == 200
    context.close()


def test_labels_keyboard_and_no_csp_violations(browser: Any, dash: Dash) -> None:
    context, page = logged_in(browser, dash)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning")
            else None)
    for path in ("/", "/tasks/new", "/runs", "/skills", "/skills/new", "/sources", "/stats"):
        page.goto(dash.base_url + path)
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => !e.labels || e.labels.length === 0).map(e => e.name)")
        assert unlabelled == [], (path, unlabelled)
        assert page.locator("main h1").count() == 1, path
    page.goto(dash.base_url + "/")
    for _ in range(30):  # Tab through the page to the "New task" link, then Enter
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "New task":
            break
    else:
        raise AssertionError("'New task' is not reachable with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(dash.base_url + "/tasks/new")
    page.get_by_label("Time (HH:MM").fill("06:45")
    page.locator("#preview").get_by_text("daily at 06:45").wait_for()  # htmx, under the CSP
    assert [p for p in problems if "Content Security Policy" in p] == []
    context.close()
