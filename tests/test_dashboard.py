"""The dashboard without a browser: login tokens and sessions, the listener's peer check,
the config/CLI/daemon wiring, forms and words, charts, and no idle timers."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptlyd.clock import FakeClock
from promptlyd.config import load_config
from promptlyd.web import forms
from promptlyd.web.auth import LOGIN_TTL, MAX_LOGIN_TOKENS, SESSION_IDLE, Sessions
from promptlyd.web.charts import bar_chart, per_day
from promptlyd.web.listen import NOBODY_MATCHED, proc_hex, tcp_peer_uid
from promptlyd.web.render import instant, markdown_renderer
from promptlyd.web.service import allowed_hosts
from promptlyd.web.words import schedule_words
from tests.fakes.helpers import request_as_nobody

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WEB = '[web]\nlisten = "127.0.0.1:0"\n'


# --- login tokens and sessions -------------------------------------------------------------

def test_a_login_token_works_once_and_expires() -> None:
    clock = FakeClock(T0)
    sessions = Sessions(clock)
    token, expires = sessions.issue_login_token()
    assert expires == T0 + LOGIN_TTL and len(token) >= 40
    redeemed = sessions.redeem(token)
    assert redeemed is not None
    cookie, session = redeemed
    assert sessions.lookup(cookie) is session
    assert sessions.redeem(token) is None  # the second time
    late, _ = sessions.issue_login_token()
    clock.advance((LOGIN_TTL + timedelta(seconds=1)).total_seconds())
    assert sessions.redeem(late) is None
    assert sessions.redeem("") is None and sessions.redeem(None) is None
    assert sessions.redeem(token + "x") is None


def test_sessions_end_when_idle_or_logged_out_and_check_csrf() -> None:
    clock = FakeClock(T0)
    sessions = Sessions(clock)
    cookie, session = sessions.redeem(sessions.issue_login_token()[0]) or ("", None)
    assert session is not None
    assert session.csrf_ok(session.csrf)
    assert not session.csrf_ok(None) and not session.csrf_ok("") and not session.csrf_ok("x")
    clock.advance((SESSION_IDLE - timedelta(minutes=1)).total_seconds())
    assert sessions.lookup(cookie) is session  # used: the idle clock restarts
    clock.advance((SESSION_IDLE - timedelta(minutes=1)).total_seconds())
    assert sessions.lookup(cookie) is session
    clock.advance((SESSION_IDLE + timedelta(minutes=1)).total_seconds())
    assert sessions.lookup(cookie) is None
    cookie2, session2 = sessions.redeem(sessions.issue_login_token()[0]) or ("", None)
    assert session2 is not None and sessions.active == 1
    sessions.end(session2)
    assert sessions.lookup(cookie2) is None and sessions.lookup("made-up") is None


def test_outstanding_login_tokens_are_bounded() -> None:
    clock = FakeClock(T0)
    sessions = Sessions(clock)
    first, _ = sessions.issue_login_token()
    for _ in range(MAX_LOGIN_TOKENS):
        clock.advance((timedelta(seconds=1)).total_seconds())
        last, _ = sessions.issue_login_token()
    assert sessions.redeem(first) is None  # the oldest made room
    assert sessions.redeem(last) is not None


# --- the listener --------------------------------------------------------------------------

def test_proc_hex_matches_the_kernel_format() -> None:
    assert proc_hex("127.0.0.1") == "0100007F"
    assert proc_hex("::1") == "00000000000000000000000001000000"


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_tcp_peer_uid_finds_the_connecting_user(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            assert tcp_peer_uid(accepted) == os.getuid()
            (tmp_path / "tcp").write_text("  sl  local_address rem_address   st\n")
            assert tcp_peer_uid(accepted, proc=tmp_path) == NOBODY_MATCHED  # no row: refuse
            assert tcp_peer_uid(accepted, proc=tmp_path / "none") is None  # cannot tell
        finally:
            accepted.close()
            client.close()


def test_allowed_hosts() -> None:
    assert allowed_hosts("127.0.0.1", 8787, False) == {"127.0.0.1:8787", "localhost:8787"}
    assert allowed_hosts("::1", 8787, False) == {"[::1]:8787", "localhost:8787"}
    assert allowed_hosts("localhost", 80, False) == {"localhost:80", "127.0.0.1:80", "[::1]:80"}
    assert allowed_hosts("0.0.0.0", 8787, True) is None  # any name may reach it
    assert allowed_hosts("127.0.0.1", 8787, True) == {"127.0.0.1:8787", "localhost:8787"}


# --- pure pieces ---------------------------------------------------------------------------

def test_task_form_to_api_body() -> None:
    single = {"name": " Brief ", "prompt": " keep spaces ", "model": "", "schedule": "hourly",
              "scheduleTime": "", "hourlyInterval": "3", "timezone": "Asia/Tokyo",
              "destinations": "me@example.org\n\n https://hooks.example.com/x \n"}
    multi = {"scheduleDays": [], "skills": ["s1"], "sources": []}
    created = forms.task_body(single, multi, creating=True)
    assert created == {"name": "Brief", "prompt": " keep spaces ", "schedule": "hourly",
                       "hourlyInterval": 3, "timezone": "Asia/Tokyo", "skills": ["s1"],
                       "sources": [], "destinations": ["me@example.org",
                                                       "https://hooks.example.com/x"]}
    edited = forms.task_body({**single, "hourlyInterval": "x", "destinations": ""}, multi,
                             creating=False)
    assert edited["hourlyInterval"] == "x"  # the API says what is wrong with it
    assert edited["scheduleTime"] is None and edited["scheduleDays"] is None
    assert edited["destinations"] is None and "model" not in edited


@pytest.mark.parametrize(("api_field", "form_field"), [
    ("scheduleTime", "scheduleTime"), ("destinations[1].value", "destinations"),
    ("skillIds", "skills"), ("sourceIds", "sources"), ("frequency", "schedule"), (None, None)])
def test_form_field_of_an_api_error(api_field: str | None, form_field: str | None) -> None:
    assert forms.form_field(api_field) == form_field


@pytest.mark.parametrize(("task", "words"), [
    ({"schedule": "daily"}, "daily at 09:00"),
    ({"schedule": "daily", "scheduleTime": "07:30", "scheduleDays": ["friday", "monday"]},
     "daily on Monday, Friday at 07:30"),
    ({"schedule": "weekly", "scheduleDays": ["saturday", "sunday"], "scheduleTime": "10:00"},
     "weekly on weekends at 10:00"),
    ({"schedule": "hourly", "hourlyInterval": 2}, "every 2 hours"),
    ({"schedule": "hourly", "scheduleTime": "00:15"}, "every hour from 00:15"),
    ({"schedule": "once", "scheduledDate": "2026-12-24", "scheduleTime": "18:00"},
     "once, 2026-12-24 18:00"),
    ({"schedule": "daily", "cronExpression": "*/5 * * * *"}, "cron */5 * * * *"),
])
def test_schedule_words(task: dict[str, Any], words: str) -> None:
    assert schedule_words(task) == words


def test_instants_say_their_zone() -> None:
    assert instant("2026-12-01T06:30:00.000Z", "Europe/Berlin") == "2026-12-01 07:30 CET"
    assert instant("2026-07-01T06:30:00.000Z", "Europe/Berlin") == "2026-07-01 08:30 CEST"
    assert instant(None, "UTC", "never") == "never"
    assert instant("2026-12-01T06:30:00.000Z", "No/Such") == "2026-12-01 06:30 UTC"


def test_markdown_runs_no_script_and_keeps_safe_links() -> None:
    html = markdown_renderer().render(
        "<b onclick=x>hi</b> [a](javascript:alert(1)) [b](HTTPS://e.org) [c](mailto:me@e.org) "
        "[d](data:text/html,x) ![i](https://e.org/i.png)")
    assert "<b" not in html and "&lt;b onclick=x&gt;" in html
    assert 'href="javascript' not in html and 'href="data' not in html
    assert 'href="HTTPS://e.org" rel="noopener noreferrer nofollow"' in html
    assert 'href="mailto:me@e.org"' in html


def test_runs_are_counted_on_their_local_day() -> None:
    rows = [("2026-11-30T23:30:00.000Z", "completed", 10, 1.5),  # Dec 1 in Berlin
            ("2026-12-01T08:00:00.000Z", "failed", 0, 0.0),
            ("2026-11-01T08:00:00.000Z", "completed", 99, 9.0)]  # outside the window
    days = per_day(rows, "Europe/Berlin", date(2026, 12, 1), 7)
    assert [d.day for d in days][-1] == date(2026, 12, 1) and len(days) == 7
    assert (days[-1].runs, days[-1].failed, days[-1].tokens, days[-1].cents) == (2, 1, 10, 1.5)
    assert sum(d.runs for d in days) == 2


def test_bar_chart_is_accessible_svg() -> None:
    svg = bar_chart("Runs <per> day", ["a&b", "c"], [3, 0], highlight=[1, 0])
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "Runs &lt;per&gt; day: 3 over 2 days" in svg and "a&amp;b: 3" in svg
    assert svg.count('class="bar"') == 1 and svg.count('class="bar-bad"') == 1


# --- wiring: config, the CLI, the daemon ----------------------------------------------------

def _promptly(d: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "promptly"), "--socket",
                           str(d.socket_path), *args], capture_output=True, text=True,
                          timeout=30, env={**d.env, "DISPLAY": "", "WAYLAND_DISPLAY": ""})


def test_promptly_dashboard_when_it_is_off(daemon: Any, api: httpx.Client) -> None:
    r = api.post("/api/promptly/dashboard/login")
    assert r.status_code == 501 and "[web] listen" in r.json()["error"]["message"]
    out = _promptly(daemon, "dashboard")
    assert out.returncode == 1 and "[web] listen" in out.stderr


def test_promptly_dashboard_prints_a_link_that_works_once(daemon_factory: Any) -> None:
    d = daemon_factory(config=WEB).start()
    out = _promptly(d, "dashboard", "--no-open")
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and "/login?token=" in url
    assert "one-time link" in out.stderr
    with httpx.Client() as client:
        first = client.get(url)
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert client.get(url).status_code == 403
    assert "dashboard on http://127.0.0.1:" in d.log()


def test_a_taken_port_stops_the_daemon_with_a_clear_error(daemon_factory: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        d = daemon_factory(config=f'[web]\nlisten = "127.0.0.1:{port}"\n')
        proc = d.spawn()
        assert proc.wait(30) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in d.log() and "[web] listen" in d.log()


def test_a_remote_address_is_refused_at_start(daemon_factory: Any) -> None:
    d = daemon_factory(config='[web]\nlisten = "0.0.0.0:8787"\n')
    assert d.spawn().wait(30) == 78
    assert "web.listen: 0.0.0.0 is not a loopback address" in d.log()


@pytest.mark.skipif(os.getuid() != 0 or not Path("/proc/net/tcp").exists(),
                    reason="needs root to connect as another uid, and Linux /proc/net/tcp")
def test_another_user_cannot_reach_the_dashboard(daemon_factory: Any) -> None:
    d = daemon_factory(config=WEB).start()
    with d.client() as api:
        url = api.post("/api/promptly/dashboard/login").json()["url"]
    host, port = url.split("/")[2].split(":")
    answer = request_as_nobody(f"socket.create_connection(({host!r}, {port}))",
                               f"GET /login HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "refused a connection from uid 65534" in d.log()
    with httpx.Client() as client:  # the daemon's own user is still served
        assert client.get(url).status_code == 303


def _timers(loop: asyncio.AbstractEventLoop) -> set[Any]:
    """The loop's pending timers (asyncio's own heap)."""
    scheduled = getattr(loop, "_scheduled")  # noqa: B009
    return {h for h in scheduled if not h.cancelled()}


async def test_the_listener_adds_no_timer_while_nobody_is_connected(tmp_path: Path) -> None:
    from promptlyd.daemon.services import build_services
    from promptlyd.providers.catalog import Catalog
    from promptlyd.store import AsyncStore

    cfg = tmp_path / "config.toml"
    cfg.write_text(WEB)
    config = load_config(cfg, env={"HOME": str(tmp_path), "TZ": "UTC"})
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    services = build_services(config, store=store, clock=FakeClock(T0), catalog=Catalog.load(),
                              keys={}, organization_id=str(uuid.uuid4()))
    dashboard = services.dashboard
    assert dashboard is not None
    loop = asyncio.get_running_loop()
    before = _timers(loop)
    await dashboard.start()
    try:
        assert _timers(loop) - before == set()
        async with httpx.AsyncClient(base_url=dashboard.base_url) as client:
            assert (await client.get("/")).status_code == 401
            assert _timers(loop) - before  # a connection's keep-alive timer, while it lasts
        for _ in range(2000):  # up to 20 s (not asyncio.timeout: that is a timer itself)
            if not _timers(loop) - before:  # the connection closed: its timer went with it
                break
            await asyncio.sleep(0.01)
        assert _timers(loop) - before == set()
    finally:
        await dashboard.stop()
        store.close()


# --- the pages' error paths, over HTTP (no browser needed) ----------------------------------

class Web:
    def __init__(self, client: httpx.Client, csrf: str, daemon: Any) -> None:
        self.client, self.csrf, self.daemon = client, csrf, daemon

    def post(self, path: str, data: dict[str, Any] | None = None,
             **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture
def web(daemon_factory: Any) -> Any:
    import re

    d = daemon_factory(config=WEB).start()
    with d.client() as api:
        url = api.post("/api/promptly/dashboard/login").json()["url"]
    base = url.split("/login", 1)[0]
    with httpx.Client(base_url=base) as client:
        page = client.get(url, follow_redirects=True)
        assert page.status_code == 200
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None
        yield Web(client, match.group(1), d)


UNKNOWN = "00000000-0000-4000-8000-000000000000"


def test_unknown_ids_are_404_pages_with_the_apis_message(web: Web) -> None:
    for path in (f"/tasks/{UNKNOWN}", f"/runs/{UNKNOWN}", f"/skills/{UNKNOWN}",
                 f"/sources/{UNKNOWN}", "/tasks/not-a-uuid"):
        r = web.client.get(path)
        assert r.status_code == 404, path
        assert "no such" in r.text.lower(), path
    for path in (f"/tasks/{UNKNOWN}/run", f"/tasks/{UNKNOWN}/pause", f"/tasks/{UNKNOWN}/delete",
                 f"/tasks/{UNKNOWN}", f"/skills/{UNKNOWN}", f"/sources/{UNKNOWN}/test",
                 f"/sources/{UNKNOWN}/delete"):
        assert web.post(path).status_code == 404, path


def test_pause_resume_edit_and_delete_a_task(web: Web) -> None:
    with web.daemon.client() as api:
        task = api.post("/api/promptly/tasks", json={"name": "T", "prompt": "p",
                                                     "scheduleTime": "08:00"}).json()
    tid = task["id"]
    assert web.post(f"/tasks/{tid}/pause").status_code == 303
    listing = web.client.get("/").text
    assert "paused" in listing and ">Resume<" in listing
    assert web.post(f"/tasks/{tid}/resume").status_code == 303
    edit = web.client.get(f"/tasks/{tid}")
    assert edit.status_code == 200 and 'value="08:00"' in edit.text
    assert "daily at 08:00" in edit.text  # the preview: the task's own /next
    r = web.post(f"/tasks/{tid}", {"name": "T2", "prompt": "p", "schedule": "daily",
                                   "scheduleTime": "10:15", "timezone": "UTC"})
    assert r.status_code == 303
    with web.daemon.client() as api:
        got = api.get(f"/api/promptly/tasks/{tid}").json()
    assert got["name"] == "T2" and got["scheduleTime"] == "10:15" and got["status"] == "active"
    bad = web.post(f"/tasks/{tid}", {"name": "T2", "prompt": "p", "timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and 'id="err-timezone"' in bad.text
    assert web.post(f"/tasks/{tid}/delete").status_code == 303
    assert web.client.get(f"/tasks/{tid}").status_code == 404


def test_preview_says_what_is_wrong_and_works_without_js(web: Web) -> None:
    r = web.post("/tasks/preview", {"schedule": "daily", "scheduleTime": "25:00"},
                 headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<form" not in r.text and "scheduleTime" in r.text
    r = web.post("/tasks/preview", {"schedule": "weekly", "scheduleDays": "friday",
                                    "scheduleTime": "17:00", "timezone": "UTC"})
    assert "<form" in r.text and "<strong>weekly on friday at 17:00 (UTC)</strong>" in r.text
    assert r.text.count("<time ") == 10


def test_run_now_goes_to_the_run(web: Web) -> None:
    with web.daemon.client() as api:
        task = api.post("/api/promptly/tasks", json={"name": "Long", "prompt": "p"}).json()
    first = web.post(f"/tasks/{task['id']}/run")
    assert first.status_code == 303 and first.headers["location"].startswith("/runs/")
    run = web.client.get(first.headers["location"])
    assert run.status_code == 200 and 'id="run-body"' in run.text


def test_skill_and_source_forms_show_the_apis_errors(web: Web) -> None:
    r = web.post("/skills/new", {"name": "", "content": "x", "tags": "", "author": "",
                                 "description": "", "category": ""})
    assert r.status_code == 400 and 'id="err-name"' in r.text
    r = web.post("/skills/new", {"name": "Ok", "content": "Say hi.", "tags": "a, b",
                                 "author": "", "description": "", "category": ""})
    assert r.status_code == 303
    r = web.post("/sources", {"name": "S", "type": "mcp", "config": "{}",
                              "authType": "none", "authConfig": "[oops"})
    assert r.status_code == 400 and 'id="err-authConfig"' in r.text
    r = web.post("/sources", {"name": "S", "type": "mcp", "config": "{}", "authType": "bearer",
                              "authConfig": '{"token": "sk-live"}'})
    assert r.status_code == 400 and 'id="err-authConfig"' in r.text and "secret" in r.text
    r = web.post("/sources", {"name": "S", "type": "mcp", "config": "{}", "authType": "none",
                              "authConfig": ""})
    assert r.status_code == 303
    source = web.client.get(r.headers["location"])
    sid = r.headers["location"].rsplit("/", 1)[1]
    assert source.status_code == 200
    tested = web.post(f"/sources/{sid}/test")
    assert 'data-success="false"' in tested.text and "config.command" in tested.text
    assert web.post(f"/sources/{sid}/delete").status_code == 303


def test_the_guard_refuses_foreign_origins_huge_forms_and_logs_out(web: Web) -> None:
    r = web.post("/tasks/new", {"name": "x", "prompt": "y"},
                 headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = web.client.post("/tasks/new", content=b"csrf=" + b"x" * 5_000_001,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    page = web.client.get("/")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert web.post("/logout").status_code == 303
    assert web.client.get("/").status_code == 401


def test_run_now_while_a_run_is_going_says_why(daemon_factory: Any) -> None:
    import re

    from tests.fakes.model_servers import OpenAIServer, running, slow

    for model in running(OpenAIServer()):
        d = daemon_factory(config=WEB + f'[providers.fake]\nkind = "openai"\nbase_url = '
                                        f'"{model.base_url}"\nlocal = true\n').start()
        model.script([slow(120)])
        with d.client() as api:
            url = api.post("/api/promptly/dashboard/login").json()["url"]
            task = api.post("/api/promptly/tasks", json={"name": "Held", "prompt": "p",
                                                         "model": "fake/m"}).json()
            assert api.post(f"/api/promptly/tasks/{task['id']}/run").status_code == 201
        with httpx.Client(base_url=url.split("/login")[0]) as client:
            page = client.get(url, follow_redirects=True)
            match = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert match is not None
            r = client.post(f"/tasks/{task['id']}/run", data={"csrf": match.group(1)})
            assert r.status_code == 409
            assert "Could not start the run" in r.text and "already running" in r.text
            live = client.get("/runs")
            assert "running" in live.text or "pending" in live.text
        model.release()
