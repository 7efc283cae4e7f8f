"""Local and API sources in-process: confinement (escapes refused), limits, auth on the
wire against a loopback HTTP server; the pure helpers (naming, auth, requirements)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptlyd.sources import auth
from promptlyd.sources.api import ApiSource, OffBase, confine, within
from promptlyd.sources.auth import credentials
from promptlyd.sources.base import SourceError, SourceSettings
from promptlyd.sources.local import LocalSource
from promptlyd.sources.naming import MAX_LEN, offered_name
from promptlyd.sources.requirements import missing_required
from promptlyd.sources.toolset import open_sources
from tests.fakes.helpers import serving

SECRETS = {"api-token": "tok-secret-1", "basic-pass": "pw"}


async def lookup(name: str) -> str | None:
    return SECRETS.get(name)


SETTINGS = SourceSettings(secrets=lookup, connect_timeout=5, tool_timeout=5,
                          max_output_chars=200)


# --- local ------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# Alpha\nthe quick brown fox\n")
    (root / "sub" / "b.txt").write_text("Another FOX here\n")
    (root / "long.txt").write_text("y" * 1000)
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    outside = tmp_path / "private.txt"
    outside.write_text("secret fox outside\n")
    os.symlink(outside, root / "link-out.txt")
    os.symlink(tmp_path, root / "dir-out")
    return root


def local(folder: Path) -> LocalSource:
    return LocalSource({"config": {"paths": [str(folder)]}}, SETTINGS)


async def test_local_tools_list_read_search(folder: Path) -> None:
    src = local(folder)
    assert [t.name for t in await src.open()] == ["list_files", "read_file", "search_files"]
    listing = await src.call("list_files", {})
    assert f"{folder}/sub/" in listing and "a.md (" in listing
    assert "b.txt" in await src.call("list_files", {"path": "sub"})
    assert "b.txt" in await src.call("list_files", {"recursive": True})
    assert (await src.call("read_file", {"path": "a.md"})).startswith("# Alpha")
    assert (await src.call("read_file", {"path": str(folder / "a.md")})).startswith("# Alpha")
    found = await src.call("search_files", {"query": "fox"})
    assert "a.md:2: the quick brown fox" in found and "b.txt:1:" in found
    assert "private" not in found  # the symlink out is not followed
    assert "b.txt" not in await src.call("search_files", {"query": "fox", "glob": "*.md"})


async def test_local_limits_and_binary(folder: Path) -> None:
    src = local(folder)
    long = await src.call("read_file", {"path": "long.txt"})
    assert long.startswith("y" * 200) and "offset=200" in long and "y" * 201 not in long
    rest = await src.call("read_file", {"path": "long.txt", "offset": 900})
    assert rest == "y" * 100
    pic = await src.call("read_file", {"path": "pic.png"})
    assert "binary file" in pic and "image/png" in pic and "PNG" not in pic.split("(")[0][-4:]


@pytest.mark.parametrize("path, why", [
    ("../private.txt", "'..' is not allowed"),
    ("sub/../../private.txt", "'..' is not allowed"),
    ("/etc/passwd", "is outside"),
    ("link-out.txt", "points outside (through a symlink)"),
    ("dir-out/private.txt", "points outside (through a symlink)"),
])
async def test_local_escapes_are_refused(folder: Path, path: str, why: str) -> None:
    src = local(folder)
    for tool in ("read_file", "list_files"):
        with pytest.raises(SourceError, match=r"(?s).*") as err:
            await src.call(tool, {"path": path})
        assert why in str(err.value)
        assert "secret fox" not in str(err.value)


async def test_local_missing_folder_and_unknown_tool(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder"):
        await local(tmp_path / "nope").open()
    with pytest.raises(SourceError, match="unknown tool"):
        await local(tmp_path).call("rm_rf", {})
    with pytest.raises(SourceError, match="no file"):
        await local(tmp_path).call("read_file", {"path": "missing.txt"})


# --- api ----------------------------------------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path,  # type: ignore
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
        if self.path.startswith("/v1/redirect-out"):
            self._send(302, b"", {"Location": "http://127.0.0.2:1/elsewhere"})
        elif self.path.startswith("/v1/redirect-up"):
            self._send(302, b"", {"Location": "/admin"})
        elif self.path.startswith("/v1/redirect-in"):
            self._send(302, b"", {"Location": "/v1/items"})
        elif self.path.startswith("/v1/big"):
            self._send(200, json.dumps({"data": "z" * 1000}).encode())
        elif self.path.startswith("/v1/missing"):
            self._send(404, b'{"error": "no such thing"}')
        elif self.path.startswith("/v1/blob"):
            self._send(200, b"\x00\x01\x02", {"Content-Type": "application/octet-stream"})
        else:
            self._send(200, json.dumps({"ok": True, "path": self.path}).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def _send(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api_server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    httpd.seen = []  # type: ignore[attr-defined]
    with serving(httpd):
        yield httpd


def api_row(server: ThreadingHTTPServer, **auth: Any) -> dict[str, Any]:
    return {"id": "a1", "slug": "items", "name": "Items", "type": "api",
            "config": {"baseUrl": f"http://127.0.0.1:{server.server_address[1]}/v1"}, **auth}


async def test_api_request_tool_with_bearer_auth(api_server: ThreadingHTTPServer) -> None:
    tools = await open_sources([api_row(api_server, auth_type="bearer",
                                        auth_config={"secretName": "api-token"})], SETTINGS)
    try:
        assert [s.name for s in tools.specs()] == ["items__request"]
        out = await tools.call("items__request", {"method": "POST", "path": "/things",
                                                  "query": {"q": "x y"}, "body": {"n": 1}})
        assert out.startswith("HTTP 200") and '"ok": true' in out
        last = api_server.seen[-1]  # type: ignore[attr-defined]
        assert last["method"] == "POST" and last["path"] == "/v1/things?q=x+y"
        assert last["headers"]["authorization"] == "Bearer tok-secret-1"
        assert json.loads(last["body"]) == {"n": 1}
        assert "followed" not in await tools.call("items__request", {"path": "redirect-in"})
        assert api_server.seen[-1]["path"] == "/v1/items"  # type: ignore[attr-defined]
        big = await tools.call("items__request", {"path": "big"})
        assert "[response cut:" in big and len(big) < 400
        blob = await tools.call("items__request", {"path": "blob"})
        assert "[binary body: 3 bytes" in blob
        with pytest.raises(SourceError, match="HTTP 404"):
            await tools.call("items__request", {"path": "missing"})
    finally:
        await tools.aclose()


@pytest.mark.parametrize("path, why", [
    ("../admin", "'..' is not allowed"),
    ("a/%2e%2e/%2e%2e/admin", "'..' is not allowed"),
    ("a/..;/admin", "'..' is not allowed"),
    ("..;jsessionid=1/admin", "'..' is not allowed"),
    ("http://127.0.0.2/v1/x", "absolute URL"),
    ("//evil.example/v1", "absolute URL"),
    ("redirect-out", "outside"),
    ("redirect-up", "outside"),
])
async def test_api_escapes_are_refused(api_server: ThreadingHTTPServer, path: str,
                                       why: str) -> None:
    src = ApiSource(api_row(api_server), SETTINGS)
    await src.open()
    try:
        before = len(api_server.seen)  # type: ignore[attr-defined]
        with pytest.raises(OffBase) as err:
            await src.call("request", {"path": path})
        assert why in str(err.value)
        paths = [s["path"] for s in api_server.seen[before:]]  # type: ignore[attr-defined]
        assert all(p.startswith("/v1/") for p in paths)  # nothing off the base was fetched
    finally:
        await src.close()


async def test_api_auth_rejected_and_unreachable(api_server: ThreadingHTTPServer) -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        await ApiSource({"config": {"baseUrl": "http://127.0.0.1:9/v1"}}, SETTINGS).open()
    with pytest.raises(SourceError, match="no secret named 'missing'"):
        await ApiSource(api_row(api_server, auth_type="bearer",
                                auth_config={"secretName": "missing"}), SETTINGS).open()
    with pytest.raises(SourceError, match="not supported"):
        await ApiSource(api_row(api_server, auth_type="oauth",
                                auth_config={"secretName": "api-token"}), SETTINGS).open()


@given(st.text(alphabet="./%2e:\\abc", max_size=12))
def test_confine_never_leaves_the_base(path: str) -> None:
    base = "https://api.example.com/v1"
    try:
        url = confine(base, path)
    except OffBase:
        return
    assert within(base, url) and url.startswith(base)


# --- pure helpers ---------------------------------------------------------------------------


def test_credentials_per_auth_type() -> None:
    assert credentials("none", None, None).headers == {}
    assert credentials("bearer", {}, "t").headers == {"Authorization": "Bearer t"}
    basic = credentials("basic", {"username": "me"}, "pw").headers["Authorization"]
    assert base64.b64decode(basic.split()[1]) == b"me:pw"
    assert credentials("header", {"headerName": "X-Token", "prefix": "Token"}, "t").headers \
        == {"X-Token": "Token t"}
    assert credentials("api_key", {}, "k").headers == {"X-API-Key": "k"}
    assert credentials("query", {"paramName": "key"}, "k").query == {"key": "k"}
    for bad, cfg, match in (("header", {}, "headerName"), ("basic", {}, "username"),
                            ("composio", {}, "Composio"), ("bearer", {}, None)):
        with pytest.raises(SourceError, match=match or "needs a secret"):
            credentials(bad, cfg, None if match is None else "nocolon")


async def test_every_credential_value_sent_is_given_to_the_redactor() -> None:
    protected: list[str] = []
    row = {"auth_type": "basic", "auth_config": {"secretName": "pw", "username": "me"}}

    async def secret(name: str) -> str:
        return "hunter22"

    creds = await auth.resolve(row, secret, protected.append)
    token = base64.b64encode(b"me:hunter22").decode()
    assert creds.headers == {"Authorization": f"Basic {token}"}
    assert f"Basic {token}" in protected and token in protected  # the secret alone is not
    # enough: the base64 of user:secret would pass a redactor that knows only the secret


def test_offered_names_are_safe_and_unique() -> None:
    taken: set[str] = set()
    assert offered_name("time", "get_current_time", taken) == "time__get_current_time"
    assert offered_name("time", "get_current_time", taken) == "time__get_current_time_2"
    odd = offered_name("my source", "do.thing/now", taken)
    assert odd == "my_source__do_thing_now"
    long = offered_name("s" * 80, "tool_" + "t" * 70, taken)
    assert len(long) <= MAX_LEN


def test_missing_required_sources() -> None:
    skills = [{"name": "Report", "frontmatter": {"requiredSources": ["git", "Time"]}}]
    assert missing_required(skills, [{"slug": "git", "name": "Git"},
                                     {"slug": "t", "name": "time"}]) is None
    problem = missing_required(skills, [{"slug": "git", "name": "Git"}])
    assert problem is not None and "needs source(s) Time" in problem
    assert missing_required([{"name": "plain", "frontmatter": None}], []) is None
