"""MCP sources: a server over stdio, streamable HTTP or websocket, through the ``mcp`` SDK.

Each connection lives in a task of its own (``_serve``): it enters the SDK's
``Client`` (whose anyio task groups and cancel scopes then never meet the run's
own timeouts), lists the tools, answers calls from a queue, and leaves the
``Client`` — which stops a stdio child (close stdin, SIGTERM, SIGKILL) — when
``close`` asks or the connection breaks. Every wait has a bound: connecting and
listing ``connect_timeout``, each call ``tool_timeout``.

A stdio child gets the SDK's safe environment (``get_default_environment``) plus
the source's ``env``, whose ``{"secretName": NAME}`` values are looked up at connect
time. Its stderr goes to our log at DEBUG (never the terminal); the last lines are
kept to explain a server that exits at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from promptlyd.sources import auth
from promptlyd.sources.base import SourceError, SourceSettings, SourceTool

if TYPE_CHECKING:
    from mcp import Client

log = logging.getLogger("promptlyd.sources.mcp")

STDERR_LINES = 12  # last stderr lines kept to explain a failed start
CLOSE_GRACE = 5.0  # how long an idle connection gets to shut down before it is cancelled
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001


class StderrTap:
    """The read end of a pipe given to a stdio child as its stderr: each line goes to
    the log at DEBUG, the last few are kept. Read by the event loop, no thread."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: deque[str] = deque(maxlen=STDERR_LINES)
        self._partial = b""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        self._read_fd: int | None = read_fd
        self.writer: Any = os.fdopen(write_fd, "w")  # handed to the child
        asyncio.get_running_loop().add_reader(read_fd, self._readable)

    def close_writer(self) -> None:
        """Drop our copy of the write end (the child keeps its own)."""
        if not self.writer.closed:
            self.writer.close()

    def _readable(self) -> None:
        if self._read_fd is None:
            return
        try:
            chunk = os.read(self._read_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._stop_reading()
            return
        self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        for raw in complete:
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            self.lines.append(line)
            log.debug("%s stderr: %s", self.label, line)

    def drain(self) -> None:
        """Read what is left now (the child has exited or is about to)."""
        while self._read_fd is not None:
            try:
                chunk = os.read(self._read_fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                self._stop_reading()
                return
            self._feed(chunk)

    def _stop_reading(self) -> None:
        if self._read_fd is None:
            return
        fd, self._read_fd = self._read_fd, None
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def close(self) -> None:
        self.close_writer()
        self.drain()
        self._stop_reading()

    def tail(self) -> str:
        return " | ".join(self.lines)


def _leaf_errors(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, or the error itself."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_leaf_errors(inner))
        return out
    return [exc]


def _mcp_code(exc: BaseException) -> int | None:
    """The JSON-RPC error code of an ``MCPError`` (timeouts are -32001), else None."""
    from mcp.shared.exceptions import MCPError

    return exc.code if isinstance(exc, MCPError) else None


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(dict(query))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def text_of_result(result: Any) -> str:
    """A ``CallToolResult`` as text for the model: its text blocks, other blocks
    described, or the structured content when there is no text."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", "") or "") * 3 // 4
            parts.append(f"[{kind}: {getattr(block, 'mime_type', None) or 'unknown type'}, "
                         f"about {size} bytes, not shown]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[binary resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    return "\n".join(parts)


class McpSource:
    """One MCP server, connected for one run (or one test)."""

    def __init__(self, row: Mapping[str, Any], settings: SourceSettings) -> None:
        self.row = row
        self.settings = settings
        self.config: Mapping[str, Any] = row.get("config") or {}
        self.transport: str = self.config.get("transport") or (
            "http" if self.config.get("url") else "stdio")
        self.label = f"source {row.get('slug') or row.get('name') or row.get('id')!s}"
        self._jobs: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]] | None] = \
            asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._broken: str | None = None  # why the connection ended, once it has
        self._stderr: StderrTap | None = None
        self._http_status: int | None = None  # the last HTTP error status seen

    # --- the Source protocol ---------------------------------------------------------

    async def open(self) -> Sequence[SourceTool]:
        client_cm = await self._client()
        ready: asyncio.Future[list[SourceTool]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._serve(client_cm, ready), name=self.label)
        try:
            return await asyncio.wait_for(asyncio.shield(ready),
                                          self.settings.connect_timeout + CLOSE_GRACE)
        except TimeoutError:
            raise SourceError(self._timeout_message()) from None

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> str:
        if self._task is None or self._task.done() or self._broken:
            raise SourceError(f"the MCP server of {self.label} is not connected"
                              + (f": {self._broken}" if self._broken else ""))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._jobs.put_nowait((tool, dict(arguments), fut))
        try:
            # the SDK times the call out first; this bound is for a stuck connection
            result = await asyncio.wait_for(asyncio.shield(fut),
                                            self.settings.tool_timeout + CLOSE_GRACE)
        except TimeoutError:
            fut.cancel()
            raise SourceError(f"{tool} did not answer within "
                              f"{self.settings.tool_timeout:g} s (tool_timeout_seconds)") from None
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(self._call_failure(tool, exc)) from exc
        text = text_of_result(result)
        if getattr(result, "is_error", False):
            raise SourceError(f"{tool} reported an error: {text or 'no details'}")
        return text

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            if self._busy:
                task.cancel()  # stuck in a call: stop it now (the SDK still stops the child)
            else:
                self._jobs.put_nowait(None)
            done, _ = await asyncio.wait([task], timeout=CLOSE_GRACE)
            if not done:
                task.cancel()
            await asyncio.wait([task], timeout=30)
        if self._stderr is not None:
            self._stderr.close()

    # --- the connection task -----------------------------------------------------------

    async def _serve(self, client_cm: Client, ready: asyncio.Future[list[SourceTool]]) -> None:
        try:
            async with AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(self.settings.connect_timeout):
                        client = await stack.enter_async_context(client_cm)
                        tools = await self._list(client)
                finally:
                    if self._stderr is not None:
                        self._stderr.close_writer()
                ready.set_result(tools)
                log.debug("%s connected over %s: %d tool(s)", self.label, self.transport,
                          len(tools))
                while (job := await self._jobs.get()) is not None:
                    name, arguments, fut = job
                    if fut.done():
                        continue  # the run gave up on it
                    self._busy = True
                    try:
                        result = await client.call_tool(
                            name, arguments, read_timeout_seconds=self.settings.tool_timeout)
                    except Exception as exc:
                        if not fut.done():
                            fut.set_exception(exc)
                        if _mcp_code(exc) == CONNECTION_CLOSED:
                            self._broken = "the server closed the connection"
                            break
                    else:
                        if not fut.done():
                            fut.set_result(result)
                    finally:
                        self._busy = False
        except asyncio.CancelledError:
            self._broken = self._broken or "closed"
            self._fail_waiting(ready, SourceError(f"{self.label} was closed"))
            raise
        except BaseException as exc:
            message = self._connect_failure(exc) if not ready.done() else \
                self._call_failure("the connection", exc)
            self._broken = self._broken or message
            log.debug("%s connection ended: %r", self.label, exc)
            self._fail_waiting(ready, SourceError(message))
        else:
            self._broken = self._broken or "closed"

    def _fail_waiting(self, ready: asyncio.Future[list[SourceTool]], error: SourceError) -> None:
        if not ready.done():
            ready.set_exception(error)
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job is not None and not job[2].done():
                job[2].set_exception(error)

    async def _list(self, client: Client) -> list[SourceTool]:
        tools: list[SourceTool] = []
        cursor: str | None = None
        for _ in range(50):  # a server that pages forever cannot hang a run
            page = await client.list_tools(cursor=cursor)
            tools.extend(SourceTool(t.name, t.description or "", dict(t.input_schema or {}))
                         for t in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    # --- building the SDK client ---------------------------------------------------------

    async def _client(self) -> Client:
        from mcp import Client

        if self.transport == "stdio":
            transport: AbstractAsyncContextManager[Any] = await self._stdio()
        else:
            creds = await auth.resolve(self.row, self.settings.secrets,
                                       self.settings.protect)
            url = _with_query(str(self.config.get("url") or ""), creds.query)
            if self.transport == "websocket":
                from promptlyd.sources.websocket import websocket_client

                transport = websocket_client(url, headers=creds.headers,
                                             open_timeout=self.settings.connect_timeout,
                                             on_status=self._saw_status)
            else:
                transport = self._streamable_http(url, creds.headers)
        return Client(transport, read_timeout_seconds=self.settings.connect_timeout,
                      cache=None)

    async def _stdio(self) -> AbstractAsyncContextManager[Any]:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        command = str(self.config.get("command") or "")
        env: dict[str, str] = {}
        for key, value in (self.config.get("env") or {}).items():
            if isinstance(value, Mapping):
                name = str(value.get("secretName"))
                secret = await self.settings.secrets(name)
                if secret is None:
                    raise SourceError(f"no secret named {name!r} for config.env.{key} of "
                                      f"{self.label}: run `promptly secrets set {name}`",
                                      field=f"config.env.{key}")
                env[key] = secret
            else:
                env[key] = str(value)
        params = StdioServerParameters(command=command, args=list(self.config.get("args") or []),
                                       env=env or None, cwd=self.config.get("cwd") or None)
        self._stderr = StderrTap(self.label)
        return stdio_client(params, errlog=self._stderr.writer)

    def _streamable_http(self, url: str, headers: Mapping[str, str]
                         ) -> AbstractAsyncContextManager[Any]:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        async def record(response: httpx2.Response) -> None:
            self._saw_status(response.status_code)

        timeout = httpx2.Timeout(self.settings.connect_timeout,
                                 read=max(self.settings.tool_timeout,
                                          self.settings.connect_timeout))
        http = httpx2.AsyncClient(headers=dict(headers), timeout=timeout,
                                  event_hooks={"response": [record]})

        @contextlib.asynccontextmanager
        async def transport() -> Any:
            async with http, streamable_http_client(url, http_client=http) as streams:
                yield streams

        return transport()

    def _saw_status(self, status: int) -> None:
        if status >= 400:
            self._http_status = status

    # --- explaining failures ---------------------------------------------------------------

    def _where(self) -> str:
        if self.transport == "stdio":
            return f"`{self.config.get('command')}`"
        return str(self.config.get("url"))

    def _timeout_message(self) -> str:
        return (f"the MCP server {self._where()} did not answer within "
                f"{self.settings.connect_timeout:g} s (source_connect_timeout_seconds)")

    def _auth_message(self) -> str | None:
        if self._http_status in (401, 403):
            return (f"the MCP server at {self._where()} rejected our credentials (HTTP "
                    f"{self._http_status}): check authType and the secret named by "
                    "authConfig.secretName")
        return None

    def _connect_failure(self, exc: BaseException) -> str:
        if self._stderr is not None:
            self._stderr.drain()
        tail = self._stderr.tail() if self._stderr is not None else ""
        stderr = f"; its stderr ended with: {tail}" if tail else ""
        leaves = _leaf_errors(exc)
        auth_problem = self._auth_message()
        if auth_problem:
            return auth_problem
        for leaf in leaves:
            if isinstance(leaf, SourceError):
                return str(leaf)
            if isinstance(leaf, FileNotFoundError) and self.transport == "stdio":
                command = str(self.config.get("command"))
                found = shutil.which(command)
                hint = "" if os.path.isabs(command) or found else \
                    " on PATH (give its absolute path in config.command, or install it)"
                return f"command not found: {command!r}{hint}"
            if isinstance(leaf, PermissionError) and self.transport == "stdio":
                return f"cannot run {self._where()}: permission denied (is it executable?)"
            if isinstance(leaf, TimeoutError):
                return self._timeout_message() + stderr
            code = _mcp_code(leaf)
            if code == CONNECTION_CLOSED and self.transport == "stdio":
                return f"the MCP server {self._where()} exited at start{stderr}"
            if code == REQUEST_TIMEOUT:
                return self._timeout_message() + stderr
            if isinstance(leaf, ConnectionError) or "Connect" in type(leaf).__name__:
                return (f"cannot connect to the MCP server at {self._where()}: "
                        f"{leaf or 'connection refused'} (is it running?)")
        first = leaves[0] if leaves else exc
        return (f"the MCP server {self._where()} failed to start a session: "
                f"{type(first).__name__}: {first}{stderr}")

    def _call_failure(self, tool: str, exc: BaseException) -> str:
        for leaf in _leaf_errors(exc):
            if isinstance(leaf, SourceError):
                return str(leaf)
            code = _mcp_code(leaf)
            if code == REQUEST_TIMEOUT:
                return (f"{tool} did not answer within {self.settings.tool_timeout:g} s "
                        "(tool_timeout_seconds)")
            if code == CONNECTION_CLOSED:
                if self._stderr is not None:
                    self._stderr.drain()
                tail = self._stderr.tail() if self._stderr is not None else ""
                return (f"the MCP server {self._where()} closed the connection during {tool}"
                        + (f"; its stderr ended with: {tail}" if tail else ""))
            if code is not None:
                return f"{tool} failed: {leaf} (MCP error {code})"
        auth_problem = self._auth_message()
        if auth_problem:
            return auth_problem
        return f"{tool} failed: {type(exc).__name__}: {exc}"


class McpKind:
    type = "mcp"

    def build(self, row: Mapping[str, Any], settings: SourceSettings) -> McpSource:
        return McpSource(row, settings)
