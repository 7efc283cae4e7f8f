"""Shared pieces of the dashboard's browser tests: the daemon with its web listener on a
system-chosen loopback port, a loopback model, and Debian's chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.daemon_proc import DaemonProcess, isolated_daemon
from tests.fakes.model_servers import OpenAIServer

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine: `apt-get install -y chromium` "
    "(.ci/system-deps installs it)")
SCREENSHOTS = Path(os.environ.get("PROMPTLY_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "promptly-dashboard-screens")
ZONE = "Europe/Berlin"
WAIT_MS = 30_000  # generous: the machine is shared and slow


@dataclass
class Dash:
    daemon: DaemonProcess
    model: OpenAIServer
    base_url: str
    skills_dir: Path

    def api(self) -> httpx.Client:
        """The daemon's socket (what `promptly` uses)."""
        return self.daemon.client()

    def login_url(self) -> str:
        with self.api() as api:
            r = api.post("/api/promptly/dashboard/login")
        assert r.status_code == 201, r.text
        url: str = r.json()["url"]
        return url


def start_dashboard(model: OpenAIServer) -> tuple[Dash, Any]:
    config = (f'timezone = "{ZONE}"\n'
              f'default_model = "fake/fake-small"\n'
              "[web]\nlisten = \"127.0.0.1:0\"\n"
              f'[providers.fake]\nkind = "openai"\nbase_url = "{model.base_url}"\n'
              "local = true\nmax_retries = 0\n")
    daemon, cleanup = isolated_daemon(config)
    daemon.start()
    home = Path(daemon.env["HOME"])
    dash = Dash(daemon=daemon, model=model, base_url="", skills_dir=home / "c" / "promptly"
                / "skills")
    dash.base_url = dash.login_url().split("/login", 1)[0]
    return dash, cleanup


def launch(playwright: Any) -> Any:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium's sandbox refuses root
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def logged_in(browser: Any, dash: Dash, **context_args: Any) -> Any:
    """A new browser context (its own cookies) logged in with a fresh link."""
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    response = page.goto(dash.login_url())
    assert response is not None and response.ok, response and response.status
    return context, page


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def csrf_of(page: Any) -> str:
    token: str = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


def playwright_running() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p
