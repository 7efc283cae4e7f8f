"""A loopback HTTP receiver for deliveries: webhook endpoint and Twilio-style SMS API.

``Receiver().start()`` listens on 127.0.0.1 (port 0, or the one given); ``script``
queues status codes (or ``"drop"``: close without answering) answered in order,
then ``default``. Every request is recorded with its headers and raw body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class Receiver:
    def __init__(self, port: int = 0, default: int = 200, keep_alive: bool = False) -> None:
        self.port = port
        self.keep_alive = keep_alive  # HTTP/1.1 persistent connections (benchmarks)
        self.default = default
        self.requests: list[Received] = []
        self._script: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.headers_out: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *answers: int | str) -> None:
        with self._lock:
            self._script.extend(answers)

    def _next(self) -> int | str:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                # headers and body are two writes: no Nagle wait for a delayed ACK
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                answer = receiver._next()
                with receiver._lock:
                    receiver.requests.append(Received(
                        "POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                        body, answer))
                if answer == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                assert isinstance(answer, int)
                payload = json.dumps({"code": answer, "message": f"answered {answer}"}).encode()
                self.send_response(answer)
                for k, v in receiver.headers_out.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            assert time.monotonic() < deadline, f"{len(self.requests)} of {n} requests came"
            time.sleep(0.01)
        return list(self.requests)
