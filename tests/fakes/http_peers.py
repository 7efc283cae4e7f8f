"""Loopback HTTP peers for the outbound client's tests (``promptlyd.httpclient``).

``HTTPPeer`` is an HTTP/1.1 keep-alive server on 127.0.0.1 that answers by path:

- ``/ok``: 200, ``X-Peer-Thing: yes``, the body ``hello`` (with a Content-Length)
- ``/bytes/N``: N bytes with a Content-Length; ``/chunked/N``: N bytes, chunked
- ``/endless``: a chunked body that never ends, until the client hangs up
- ``/claims/N``: says Content-Length N and sends none of it
- ``/hang``: reads the request and never answers; ``/stall``: the headers and half
  the body, then nothing
- ``/drop``: closes the connection without answering; ``/garbage``: not HTTP at all
- ``/redirect``: 302 to ``/ok``

Every request is recorded (``seen``: method, request target, lowercased headers,
body, the client's port: a new port is a new connection). The routes that wait
end when the client closes the connection; ``wait_hangup(route)`` blocks until that
happened (from async code: ``asyncio.to_thread``), ``streamed`` counts the bytes
``/endless`` got out.

``ForwardProxy`` is a plain HTTP forward proxy: it takes absolute-form requests
(``POST http://127.0.0.1:PORT/path HTTP/1.1``), records them in ``seen`` and relays
them to that loopback origin (only 127.0.0.1; anything else is a 502).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization",
                         "te", "trailer", "transfer-encoding", "upgrade"})


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # the request line's target as sent: absolute-form through a proxy
    headers: dict[str, str]  # names lowercased
    body: bytes
    client_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still waiting is cut off by stop(), not joined
    block_on_close = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: _Base  # set on the subclass each server gets

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._conns.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._conns.discard(self.connection)
        with contextlib.suppress(OSError):  # the client went away first
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.owner._serve(self)

    def do_POST(self) -> None:
        self.owner._serve(self)


class _Base:
    """Start/stop, the record of requests, and the open connections (cut at stop)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        class Handler(_Handler):
            pass

        Handler.owner = self
        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # a handler waiting for the client to hang up ends now
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, h: BaseHTTPRequestHandler) -> Seen:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        seen = Seen(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, body,
                    int(h.client_address[1]))
        with self._lock:
            self.seen.append(seen)
            self._lock.notify_all()
        return seen


class HTTPPeer(_Base):
    def __init__(self) -> None:
        super().__init__()
        self.streamed = 0  # bytes of /endless written before the client hung up
        self._hangups: list[str] = []  # the routes whose client closed the connection

    def wait_hangup(self, route: str, timeout: float = 10.0) -> None:
        """Until the client of a ``route`` request (say ``"/endless"``) has hung up."""
        with self._lock:
            if not self._lock.wait_for(lambda: route in self._hangups, timeout):
                raise TimeoutError(f"the client of {route} is still connected")

    def _hung_up(self, route: str) -> None:
        with self._lock:
            self._hangups.append(route)
            self._lock.notify_all()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        seen = self._record(h)
        route, _, arg = seen.target.partition("?")[0].lstrip("/").partition("/")
        try:
            self._route(h, "/" + route, arg)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
            self._hung_up("/" + route)

    def _route(self, h: BaseHTTPRequestHandler, route: str, arg: str) -> None:
        if route == "/ok":
            self._send(h, 200, b"hello", {"X-Peer-Thing": "yes"})
        elif route == "/bytes":
            self._send(h, 200, b"x" * int(arg))
        elif route == "/chunked":
            self._head(h, 200, {"Transfer-Encoding": "chunked"})
            data = b"x" * int(arg)
            for i in range(0, len(data), 1000):
                _chunk(h, data[i:i + 1000])
            _chunk(h, b"")
        elif route == "/endless":
            self._head(h, 200, {"Transfer-Encoding": "chunked"})
            block = b"x" * 16384
            while True:  # until the write fails: the client hung up
                _chunk(h, block)
                self.streamed += len(block)
        elif route == "/claims":
            self._head(h, 200, {"Content-Length": arg})
            self._until_hangup(h, route)
        elif route == "/hang":
            self._until_hangup(h, route)
        elif route == "/stall":
            self._head(h, 200, {"Content-Length": "100"})
            h.wfile.write(b"x" * 50)
            self._until_hangup(h, route)
        elif route == "/drop":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
        elif route == "/garbage":
            h.close_connection = True
            h.wfile.write(b"this is not HTTP at all\r\n\r\n")
        elif route == "/redirect":
            self._send(h, 302, b"moved", {"Location": "/ok"})
        else:
            self._send(h, 404, b"no such route")

    def _until_hangup(self, h: BaseHTTPRequestHandler, route: str) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            while h.rfile.read(1):  # the client sends nothing more; EOF: it hung up
                pass
        self._hung_up(route)

    @staticmethod
    def _head(h: BaseHTTPRequestHandler, code: int, headers: dict[str, str]) -> None:
        h.send_response(code)
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()

    def _send(self, h: BaseHTTPRequestHandler, code: int, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        self._head(h, code, {**(headers or {}), "Content-Length": str(len(body))})
        h.wfile.write(body)


def _chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


class ForwardProxy(_Base):
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        seen = self._record(h)
        target = urlsplit(seen.target)
        if target.scheme != "http" or target.hostname != "127.0.0.1":
            h.send_error(502, "this test proxy relays only to http://127.0.0.1")
            return
        origin = http.client.HTTPConnection("127.0.0.1", target.port or 80, timeout=30)
        try:
            headers = {k: v for k, v in seen.headers.items() if k not in _HOP_BY_HOP}
            path = target.path + (f"?{target.query}" if target.query else "")
            origin.request(seen.method, path or "/", body=seen.body or None, headers=headers)
            answer = origin.getresponse()
            body = answer.read()
            h.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    h.send_header(name, value)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        finally:
            origin.close()
