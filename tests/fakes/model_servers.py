"""Loopback model servers that speak the real wire protocols, for tests.

``OpenAIServer`` answers ``POST /v1/chat/completions`` and ``GET /v1/models``;
``AnthropicServer`` answers ``POST /v1/messages`` and ``GET /v1/models``. Each runs
a ``ThreadingHTTPServer`` on 127.0.0.1, port 0, in a background thread, so sync and
async tests can use it, and the real SDKs talk to it through ``base_url``::

    with OpenAIServer() as server:                  # or server.start() / server.stop()
        server.script([reply("hello", usage=(12, 5)), status(429, retry_after=0)])
        ...  # point a provider at server.base_url
        assert server.completion_requests[0].body["messages"][0]["content"] == "hi"

Behaviours (API-neutral; each server renders them in its own wire format):

- ``reply(text, usage=(in, out))``: a normal answer; ``no_usage(text)`` leaves usage out
- ``tool_call(name, arguments)`` / ``tool_calls((name, args), …)``: the model asks for tools
- ``status(code, retry_after=None, message=None)``: an error, with the API's error body
- ``slow(seconds, then=reply(...))``: answer after ``seconds`` (released early by
  ``server.release()`` or ``stop()``)
- ``malformed_json()``: 200 with a JSON content type and a truncated body;
  ``raw(body, code=200, content_type=...)``: exactly that body
- ``disconnect()``: close the connection without answering
- ``echo()``: reply with the text of the last message received (the default)
- ``dynamic(fn)``: ``fn(recorded_request) -> behaviour``, decided per request

Scripted behaviours are used in order, one per completion request; when the queue
is empty the server uses ``server.default`` (``echo()`` unless given). ``require_key``
makes it check the API key first and answer 401 as the real API does.

Inspecting: ``requests`` / ``completion_requests`` (``Recorded``: method, path,
lowercased headers, parsed JSON body), ``key_of(recorded)`` (the API key sent,
wherever the SDK put it), ``wait_for_requests(n)`` (blocking; from async code use
``asyncio.to_thread``), ``pending`` (scripted behaviours left), ``errors``
(tracebacks from inside the fake: should stay empty). ``models`` and
``models_error`` drive ``GET /v1/models``. As a pytest fixture::

    @pytest.fixture
    def openai_server() -> Iterator[OpenAIServer]:
        yield from running(OpenAIServer())
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeAlias, TypeVar

DEFAULT_USAGE = (10, 5)

# --- behaviours ----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any], str | None], ...] = ()  # (name, args, id)
    usage: tuple[int, int] | None = DEFAULT_USAGE
    stop_reason: str | None = None  # None: the API's usual word for text / tool use
    model: str | None = None  # None: the model the request named


@dataclass(frozen=True)
class Echo:
    usage: tuple[int, int] | None = DEFAULT_USAGE


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class Slow:
    seconds: float
    then: Behaviour


@dataclass(frozen=True)
class Raw:
    body: bytes
    code: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Disconnect:
    pass


@dataclass(frozen=True)
class Dynamic:
    fn: Callable[[Recorded], Behaviour]


Behaviour: TypeAlias = Reply | Echo | Status | Slow | Raw | Disconnect | Dynamic


def reply(text: str, *, usage: tuple[int, int] | None = DEFAULT_USAGE,
          stop_reason: str | None = None, model: str | None = None) -> Reply:
    return Reply(text=text, usage=usage, stop_reason=stop_reason, model=model)


def no_usage(text: str) -> Reply:
    return Reply(text=text, usage=None)


def tool_call(name: str, arguments: dict[str, Any], *, call_id: str | None = None,
              text: str = "", usage: tuple[int, int] | None = DEFAULT_USAGE) -> Reply:
    return Reply(text=text, tool_calls=((name, arguments, call_id),), usage=usage)


def tool_calls(*calls: tuple[str, dict[str, Any]], text: str = "",
               usage: tuple[int, int] | None = DEFAULT_USAGE) -> Reply:
    return Reply(text=text, tool_calls=tuple((n, a, None) for n, a in calls), usage=usage)


def status(code: int, *, retry_after: float | None = None, message: str | None = None) -> Status:
    return Status(code, retry_after, message)


def slow(seconds: float, then: Behaviour | None = None) -> Slow:
    return Slow(seconds, then if then is not None else reply("finally"))


def malformed_json() -> Raw:
    """200, ``Content-Type: application/json``, and a body cut off mid-object."""
    return Raw(b'{"id": "broken", "choices": [{"message": ')


def raw(body: bytes | str | dict[str, Any], *, code: int = 200,
        content_type: str = "application/json") -> Raw:
    """Exactly this body (a dict is JSON-encoded): for shapes the helpers do not make."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    return Raw(data, code, content_type)


def disconnect() -> Disconnect:
    return Disconnect()


def echo(*, usage: tuple[int, int] | None = DEFAULT_USAGE) -> Echo:
    return Echo(usage)


def dynamic(fn: Callable[[Recorded], Behaviour]) -> Dynamic:
    return Dynamic(fn)


# --- recording -------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # the parsed JSON body; None for GET or a body that is not JSON
    raw: bytes = field(repr=False, default=b"")


# --- the servers -------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, on a kept-alive
        # connection Nagle holds the body until the client's delayed ACK (~40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024  # bursts of concurrent runs (the default backlog is 5)
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, owner: FakeModelServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A bug in the fake itself: keep it for the test to see, and print it.
        self.owner.errors.append(traceback.format_exc())
        super().handle_error(request, client_address)


class FakeModelServer:
    """The shared machinery; ``OpenAIServer`` and ``AnthropicServer`` add the wire format."""

    completion_path = ""
    models_path = "/v1/models"
    url_suffix = ""  # what base_url adds after host:port, as the SDK expects

    def __init__(
        self, *, require_key: str | None = None, default: Behaviour | None = None,
        models: Sequence[str] = ("fake-small", "fake-large"), keep_alive: bool = False,
    ) -> None:
        self.require_key = require_key
        # keep_alive: answer without ``Connection: close``, as the real APIs do (the
        # throughput benchmark); stop() then waits for clients to close first.
        self.keep_alive = keep_alive
        self.default: Behaviour = default if default is not None else echo()
        self.models: list[str] = list(models)
        self.models_error: Status | None = None  # answer GET /models with this instead
        self.errors: list[str] = []  # tracebacks of exceptions inside the fake
        self._queue: deque[Behaviour] = deque()
        self._requests: list[Recorded] = []
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # lifecycle
    def start(self) -> Self:
        if self._httpd is None:
            self._stopping = False
            self._httpd = _HTTPServer(self)
            # shutdown() waits up to one poll interval: keep it short, tests stop a lot.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                name=f"{type(self).__name__}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping = True
        self.release()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running: call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_suffix}"

    # scripting
    def script(self, behaviours: Iterable[Behaviour]) -> None:
        """Queue behaviours for the next completion requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not used yet."""
        with self._lock:
            return len(self._queue)

    def release(self) -> None:
        """Let every ``slow()`` response in progress answer now."""
        with self._lock:
            event, self._release = self._release, threading.Event()
        event.set()

    # what was received
    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def completion_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == self.completion_path]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until ``count`` requests have arrived (for async tests: asyncio.to_thread)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} requests arrived, wanted {count}")
            return list(self._requests)

    # request handling (handler threads)
    def _handle(self, handler: _Handler, method: str) -> None:
        try:
            self._receive(handler, method)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (a timeout test)

    def _receive(self, handler: _Handler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = handler.path.split("?", 1)[0]
        recorded = Recorded(method, path, {k.lower(): v for k, v in handler.headers.items()},
                            body, raw)
        with self._lock:
            self._requests.append(recorded)
            self._lock.notify_all()
        self._respond(handler, recorded)

    def _respond(self, handler: _Handler, request: Recorded) -> None:
        if self.require_key is not None and self.key_of(request) != self.require_key:
            self._send_status(handler, Status(401, message=self.bad_key_message))
            return
        if request.method == "GET" and request.path == self.models_path:
            if self.models_error is not None:
                self._send_status(handler, self.models_error)
            else:
                self._send_json(handler, 200, self._models_body())
            return
        if request.method != "POST" or request.path != self.completion_path:
            self._send_status(handler, Status(404, message=f"no route for {request.path}"))
            return
        if not isinstance(request.body, dict):
            self._send_status(handler, Status(400, message="the body is not a JSON object"))
            return
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else self.default
            release = self._release
        self._perform(handler, request, behaviour, release)

    def _perform(self, handler: _Handler, request: Recorded, behaviour: Behaviour,
                 release: threading.Event) -> None:
        if isinstance(behaviour, Dynamic):
            self._perform(handler, request, behaviour.fn(request), release)
        elif isinstance(behaviour, Slow):
            if not self._stopping:
                release.wait(behaviour.seconds)
            self._perform(handler, request, behaviour.then, release)
        elif isinstance(behaviour, Status):
            self._send_status(handler, behaviour)
        elif isinstance(behaviour, Raw):
            self._send_bytes(handler, behaviour.code, behaviour.body,
                             content_type=behaviour.content_type)
        elif isinstance(behaviour, Disconnect):
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif isinstance(behaviour, Echo):
            text = self._last_text(request.body)
            self._send_json(handler, 200, self._reply_body(Reply(text, usage=behaviour.usage),
                                                           request.body))
        elif isinstance(behaviour, Reply):
            self._send_json(handler, 200, self._reply_body(behaviour, request.body))
        else:
            raise TypeError(f"not a behaviour: {behaviour!r}")

    def _send_status(self, handler: _Handler, behaviour: Status) -> None:
        headers = {}
        if behaviour.retry_after is not None:
            headers["retry-after"] = f"{behaviour.retry_after:g}"
        self._send_json(handler, behaviour.code, self._error_body(behaviour), headers)

    def _send_json(self, handler: _Handler, code: int, payload: object,
                   headers: dict[str, str] | None = None) -> None:
        self._send_bytes(handler, code, json.dumps(payload).encode(), headers)

    def _send_bytes(self, handler: _Handler, code: int, data: bytes,
                    headers: dict[str, str] | None = None,
                    content_type: str = "application/json") -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        if not self.keep_alive:
            handler.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.close_connection = not self.keep_alive

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    # the wire format (subclasses)
    bad_key_message = "invalid API key"

    def key_of(self, request: Recorded) -> str | None:
        """The API key a request carried, wherever this API puts it."""
        auth = request.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _reply_body(self, behaviour: Reply, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _error_body(self, behaviour: Status) -> dict[str, Any]:
        raise NotImplementedError

    def _models_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _last_text(self, request: dict[str, Any]) -> str:
        raise NotImplementedError


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or a list of text-bearing parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                value = part.get("text", part.get("content", ""))
                parts.append(_text_of(value))
        return "".join(parts)
    return ""


class OpenAIServer(FakeModelServer):
    """OpenAI Chat Completions; ``base_url`` ends in ``/v1`` as ProviderConfig expects."""

    completion_path = "/v1/chat/completions"
    url_suffix = "/v1"
    bad_key_message = "Incorrect API key provided. You can find your API key in your account."

    def provider_toml(self, name: str = "fake") -> str:
        """A config table for a local provider ``name`` that talks to this server, with
        no retries (a test's error stays one request)."""
        return (f'[providers.{name}]\nkind = "openai"\nbase_url = "{self.base_url}"\n'
                "local = true\nmax_retries = 0\n")

    def _reply_body(self, behaviour: Reply, request: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant",
                                   "content": behaviour.text or None, "refusal": None}
        if behaviour.tool_calls:
            message["tool_calls"] = [
                {"id": call_id or self._next_id("call_"), "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for name, args, call_id in behaviour.tool_calls
            ]
        finish = behaviour.stop_reason or ("tool_calls" if behaviour.tool_calls else "stop")
        body: dict[str, Any] = {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": behaviour.model or request.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
        }
        if behaviour.usage is not None:
            prompt, completion = behaviour.usage
            body["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
        return body

    def _error_body(self, behaviour: Status) -> dict[str, Any]:
        kinds = {400: ("invalid_request_error", None), 401: ("invalid_request_error",
                 "invalid_api_key"), 404: ("invalid_request_error", "model_not_found"),
                 429: ("requests", "rate_limit_exceeded")}
        kind, code = kinds.get(behaviour.code, ("server_error", None))
        message = behaviour.message or f"fake error {behaviour.code}"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def _models_body(self) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for name in self.models]}

    def _last_text(self, request: dict[str, Any]) -> str:
        messages = request.get("messages") or [{}]
        return _text_of(messages[-1].get("content"))


class AnthropicServer(FakeModelServer):
    """Anthropic Messages; ``base_url`` is the bare origin, as the SDK adds ``/v1``."""

    completion_path = "/v1/messages"
    bad_key_message = "invalid x-api-key"

    def key_of(self, request: Recorded) -> str | None:
        # The API takes x-api-key; newer SDKs send the key as a Bearer token instead.
        return request.headers.get("x-api-key") or super().key_of(request)

    def _reply_body(self, behaviour: Reply, request: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if behaviour.text or not behaviour.tool_calls:
            content.append({"type": "text", "text": behaviour.text})
        content.extend({"type": "tool_use", "id": call_id or self._next_id("toolu_"),
                        "name": name, "input": args}
                       for name, args, call_id in behaviour.tool_calls)
        stop = behaviour.stop_reason or ("tool_use" if behaviour.tool_calls else "end_turn")
        body: dict[str, Any] = {
            "id": self._next_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": behaviour.model or request.get("model", "fake"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
        }
        if behaviour.usage is not None:
            body["usage"] = {"input_tokens": behaviour.usage[0],
                             "output_tokens": behaviour.usage[1]}
        return body

    def _error_body(self, behaviour: Status) -> dict[str, Any]:
        kinds = {400: "invalid_request_error", 401: "authentication_error",
                 403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                 429: "rate_limit_error", 529: "overloaded_error"}
        kind = kinds.get(behaviour.code, "api_error")
        message = behaviour.message or f"fake error {behaviour.code}"
        return {"type": "error", "error": {"type": kind, "message": message},
                "request_id": self._next_id("req_")}

    def _models_body(self) -> dict[str, Any]:
        data = [{"type": "model", "id": name, "display_name": name,
                 "created_at": "2025-01-01T00:00:00Z", "lifecycle": "active"}
                for name in self.models]
        return {"data": data, "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}

    def _last_text(self, request: dict[str, Any]) -> str:
        messages = request.get("messages") or [{}]
        return _text_of(messages[-1].get("content"))


S = TypeVar("S", bound=FakeModelServer)


def running(server: S) -> Iterator[S]:
    """For fixtures: ``yield from running(OpenAIServer())`` starts, yields and stops it."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
