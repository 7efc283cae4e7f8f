"""The API server on a Unix socket (and the dashboard's TCP listener): uvicorn, minus
its idle tick, plus peer checks.

uvicorn's own main loop wakes ten times a second (about 143 ms CPU a minute on
a 2-core machine); ``ApiServer`` drives uvicorn's ``startup``/``shutdown`` and
simply sleeps in between, so an idle daemon costs nothing. Every connection's
peer credentials (``SO_PEERCRED``) are checked: another uid gets a 403 and the
connection is closed. The dashboard passes its own ``uid_of`` (the owner of a
loopback TCP connection, ``web.listen.tcp_peer_uid``).

Hostile clients are bounded here, below the application: a client must send its
whole request within ``request_timeout_seconds`` of connecting (or of starting the
next request on a kept-alive connection) — one that sends nothing or half a
request is cut off, so idle connections cannot pile up file descriptors — and a
request head (request line and headers) over ``MAX_HEAD_BYTES`` is a 431.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptlyd.config import Config
from promptlyd.errors import AlreadyRunning, PromptlydError

log = logging.getLogger("promptlyd.server")

_FORBIDDEN_BODY = (
    b'{"error":{"type":"forbidden",'
    b'"message":"this socket only serves the user who runs promptlyd"}}'
)
_FORBIDDEN = (
    b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_FORBIDDEN_BODY)}\r\n\r\n".encode()
    + _FORBIDDEN_BODY
)


MAX_HEAD_BYTES = 64 * 1024
_HEAD_TOO_LARGE_BODY = (
    b'{"error":{"type":"headers_too_large",'
    b'"message":"the request line and headers are over 64 kB; send fewer or shorter headers"}}'
)
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\n"
    + f"content-length: {len(_HEAD_TOO_LARGE_BODY)}\r\n\r\n".encode()
    + _HEAD_TOO_LARGE_BODY
)


@dataclass
class ConnectionLimits:
    """What a connection may take; reload changes it for the connections that follow."""

    request_timeout: float = 10.0

    @classmethod
    def of(cls, config: Config) -> ConnectionLimits:
        return cls(request_timeout=config.request_timeout_seconds)

    async def apply(self, config: Config) -> None:
        self.request_timeout = config.request_timeout_seconds


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), else None."""
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


UidOf = Callable[[socket.socket], "int | None"]


def _checked_protocol(base: type[Any], allowed_uid: int, limits: ConnectionLimits,
                      uid_of: UidOf) -> type[Any]:
    class PeerCheckedProtocol(base):  # type: ignore[misc]
        _refused = False
        _discarding = False  # answered 431: what still arrives is dropped
        _deadline: asyncio.TimerHandle | None = None
        _head = 0  # bytes of the current request's head so far; -1 once it is complete

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(limits.request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                log.debug("closed a connection that did not send its request within %g s",
                          limits.request_timeout)
                self.transport.close()

        def on_message_begin(self) -> None:
            self._arm()
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._head = -1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._head = 0
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm()
            sock = transport.get_extra_info("socket")
            if sock is None:
                return
            uid = uid_of(sock)
            if uid is not None and uid != allowed_uid:
                log.warning("refused a connection from uid %d (only uid %d may connect)",
                            uid, allowed_uid)
                self._refused = True
                transport.write(_FORBIDDEN)  # type: ignore[attr-defined]
                # Close once the request has been read (closing with unread data would
                # reset the connection and lose the 403), or after a few seconds.
                asyncio.get_running_loop().call_later(5.0, transport.close)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                self.transport.close()
                return
            if self._discarding:
                return
            if self._head >= 0:
                self._head += len(data)  # -1 again once the parser has seen the whole head
            super().data_received(data)
            if self._head > MAX_HEAD_BYTES and not self.transport.is_closing():
                log.warning("refused a request whose head is over %d bytes", MAX_HEAD_BYTES)
                self._head = -1
                self._discarding = True
                # Answer, end our side, and drop what still comes for a moment (closing
                # with unread data would reset the connection and lose the 431).
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.write_eof()
                self.loop.call_later(1.0, self.transport.close)

    return PeerCheckedProtocol


def _private_folder(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(folder, 0o700)
        return
    st = folder.stat()
    if st.st_uid != os.getuid():
        raise PromptlydError(f"socket folder {folder} belongs to uid {st.st_uid}, not to you; "
                             "choose another `socket` in the config")
    if st.st_mode & 0o077:
        if st.st_mode & stat.S_ISVTX:
            raise PromptlydError(f"socket folder {folder} is shared (like /tmp); put the "
                                 "socket in a private folder of its own")
        os.chmod(folder, 0o700)
        log.info("made socket folder %s private (0700)", folder)


def bind_unix_socket(path: Path) -> socket.socket:
    """Create the listening socket: folder 0700, socket 0600, stale socket replaced."""
    _private_folder(path.parent)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: nobody is listening
        else:
            raise AlreadyRunning(f"another promptlyd is already listening on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(256)
    sock.setblocking(False)
    return sock


class ApiServer:
    def __init__(self, app: Any, sock: socket.socket, limits: ConnectionLimits,
                 uid_of: UidOf = peer_uid) -> None:
        import uvicorn
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        self.sock = sock
        self.path = sock.getsockname()
        self.limits = limits
        uv_config = uvicorn.Config(
            app,
            http=_checked_protocol(HttpToolsProtocol, os.getuid(), self.limits, uid_of),
            ws="none",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            date_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
        )
        uv_config.load()
        self.server = uvicorn.Server(uv_config)
        self.server.lifespan = uv_config.lifespan_class(uv_config)

    async def start(self) -> None:
        await self.server.startup(sockets=[self.sock])
        await self.server.on_tick(0)  # sets the default headers once; no periodic tick

    async def stop(self) -> None:
        await self.server.shutdown(sockets=[self.sock])
        try:
            if isinstance(self.path, str) and self.path:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
