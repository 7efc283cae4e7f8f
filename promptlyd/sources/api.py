"""API sources: an HTTP API at ``config.baseUrl`` as one ``request`` tool.

The model gives a method, a path relative to the base URL, a query and a JSON
body. ``confine`` (pure) refuses what would leave the base: ``..`` (also encoded),
absolute URLs, ``//host`` paths, backslashes; a redirect is followed only while it
stays under the base. The source's credentials go on every request; responses
are cut to ``max_tool_output_chars`` with a note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from promptlyd.sources import auth
from promptlyd.sources.base import SourceError, SourceSettings, SourceTool

if TYPE_CHECKING:
    import httpx

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_REDIRECTS = 5
REQUEST_TOOL = SourceTool(
    "request",
    "Call the HTTP API (paths are relative to its base URL); answers the status, the "
    "content type and the body.",
    {"type": "object", "required": ["path"], "properties": {
        "method": {"type": "string", "enum": list(METHODS), "default": "GET"},
        "path": {"type": "string", "description": "path under the base URL, e.g. /users/1"},
        "query": {"type": "object", "description": "query parameters",
                  "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "body": {"description": "JSON body (POST, PUT, PATCH)"}}},
)


class OffBase(SourceError):
    """A request or redirect that would leave the source's base URL."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def within(base: str, url: str) -> bool:
    """Whether ``url`` is under ``base``: same scheme, host and port, and a path at or
    below the base's path."""
    if _origin(url) != _origin(base):
        return False
    base_path = urlsplit(base).path.rstrip("/")
    path = urlsplit(url).path
    if ".." in unquote(path).split("/"):
        return False
    return path == base_path or path.startswith(base_path + "/") or not base_path


def confine(base: str, path: str) -> str:
    """The URL for ``path`` under ``base``; raise ``OffBase`` for anything that would leave it."""
    if not isinstance(path, str):
        raise OffBase("path must be a string")
    decoded = unquote(unquote(path))
    if "\\" in decoded or any(c in decoded for c in "\x00\r\n"):
        raise OffBase(f"path {path!r} has characters that are not allowed")
    # "..;x" is ".." to servers that strip path parameters (Tomcat, Jetty)
    if any(segment.split(";", 1)[0] == ".." for segment in decoded.split("/")):
        raise OffBase(f"path {path!r}: '..' is not allowed; requests stay under {base}")
    if "://" in decoded or decoded.startswith("//") or urlsplit(path).scheme:
        raise OffBase(f"path {path!r} is an absolute URL; give a path under {base}")
    if "?" in path or "#" in path:
        raise OffBase(f"path {path!r}: put query parameters in 'query'")
    url = base.rstrip("/") + "/" + path.lstrip("/") if path not in ("", "/") else base
    if not within(base, url):
        raise OffBase(f"path {path!r} leaves the base URL {base}")
    return url


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether more was left unread: a huge
    answer is never held whole (reading stops, the connection is dropped)."""
    chunks: list[bytes] = []
    held = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        held += len(chunk)
        if held > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def describe_response(response: httpx.Response, body: bytes, limit: int,
                      unread: bool = False) -> str:
    """Status, content type and the body as text, cut to ``limit`` characters with a note;
    ``unread``: the body went on past what was read."""
    ctype = response.headers.get("content-type", "")
    head = f"HTTP {response.status_code} {response.reason_phrase}\ncontent-type: {ctype or '-'}"
    declared = response.headers.get("content-length", "")
    size = f"{declared} bytes" if declared.isdigit() else (
        f"over {len(body)} bytes" if unread else f"{len(body)} bytes")
    textual = (not ctype or "json" in ctype or ctype.startswith("text/") or "xml" in ctype
               or "javascript" in ctype or "x-www-form-urlencoded" in ctype)
    if not textual or b"\x00" in body[:8192]:
        return f"{head}\n\n[binary body: {size}, not shown]"
    text = body.decode(response.encoding or "utf-8", "replace")
    room = max(0, limit - len(head) - 80)  # the head and the note fit in the limit too
    if unread or len(text) > room:
        rest = (f"{len(text) - room} more characters" if not unread
                else f"the rest of {size}")
        text = f"{text[:room]}\n[response cut: {rest} not shown]"
    return f"{head}\n\n{text}"


class ApiSource:
    def __init__(self, row: Mapping[str, Any], settings: SourceSettings) -> None:
        self.row = row
        self.settings = settings
        self.base = str((row.get("config") or {}).get("baseUrl") or "").rstrip("/")
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> Sequence[SourceTool]:
        import httpx

        creds = await auth.resolve(self.row, self.settings.secrets,
                                         self.settings.protect)
        self._client = httpx.AsyncClient(
            headers=creds.headers, params=creds.query, follow_redirects=False,
            timeout=httpx.Timeout(self.settings.tool_timeout,
                                  connect=self.settings.connect_timeout))
        try:  # only the status matters: the body is never read
            async with self._client.stream("GET", self.base) as response:
                pass
        except httpx.TimeoutException as exc:
            raise SourceError(f"{self.base} did not answer within "
                              f"{self.settings.connect_timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot connect to {self.base}: {exc or type(exc).__name__} "
                              "(is it running? is baseUrl right?)") from exc
        if response.status_code in (401, 403):
            raise SourceError(f"{self.base} rejected our credentials (HTTP "
                              f"{response.status_code}): check authType and the secret named "
                              "by authConfig.secretName")
        return (REQUEST_TOOL,)

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> str:
        import httpx

        if tool != REQUEST_TOOL.name or self._client is None:
            raise SourceError(f"unknown tool {tool!r} (this source offers 'request')")
        method = str(arguments.get("method") or "GET").upper()
        if method not in METHODS:
            raise SourceError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        url = confine(self.base, arguments.get("path", ""))
        query = arguments.get("query") or {}
        if not isinstance(query, Mapping):
            raise SourceError("query must be an object of parameter names to values")
        params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in query.items()}
        has_body = "body" in arguments and arguments["body"] is not None
        client = self._client
        limit = self.settings.max_output_chars
        try:
            response = await client.send(client.build_request(
                method, url, params=params or None,
                json=arguments["body"] if has_body else None), stream=True)
            try:
                for _ in range(MAX_REDIRECTS):
                    if not response.is_redirect:
                        break
                    await response.aclose()
                    target = urljoin(str(response.url), response.headers.get("location", ""))
                    if not within(self.base, target):
                        raise OffBase(f"the API redirected to {target}, which is outside "
                                      f"{self.base}; not followed")
                    keep = response.status_code in (307, 308)
                    response = await client.send(client.build_request(
                        method if keep else "GET", target,
                        json=arguments["body"] if keep and has_body else None), stream=True)
                else:
                    raise SourceError(f"more than {MAX_REDIRECTS} redirects from {url}")
                # a character is at most 4 bytes: enough for ``limit`` of them, no more
                body, unread = await read_capped(response, 4 * limit + 4)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise SourceError(f"{method} {url} did not answer within "
                              f"{self.settings.tool_timeout:g} s (tool_timeout_seconds)") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{method} {url} failed: {exc or type(exc).__name__}") from exc
        text = describe_response(response, body, limit, unread)
        if response.status_code >= 400:
            raise SourceError(text)
        return text

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class ApiKind:
    type = "api"

    def build(self, row: Mapping[str, Any], settings: SourceSettings) -> ApiSource:
        return ApiSource(row, settings)
