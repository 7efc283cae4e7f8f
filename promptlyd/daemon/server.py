"""The API server on a Unix socket (and the dashboard's TCP listener): uvicorn, minus
its idle tick, plus peer checks.

uvicorn's own main loop wakes ten times a second (about 143 ms CPU a minute on
a 2-core machine); ``ApiServer`` drives uvicorn's ``startup``/``shutdown`` and
simply sleeps in between, so an idle daemon costs nothing. Every connection's
peer credentials (``SO_PEERCRED``) are checked: another uid gets a 403 and the
connection is closed. The dashboard passes its own ``uid_of`` (the owner of a
loopback TCP connection, ``web.listen.tcp_peer_uid``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), else None."""
    so_peercred = getattr(socket, "SO_PEERCRED", None)
    if so_peercred is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, so_peercred, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


UidOf = Callable[[socket.socket], "int | None"]


def _checked_protocol(base: type[Any], allowed_uid: int, uid_of: UidOf) -> type[Any]:
    class PeerCheckedProtocol(base):  # type: ignore[misc]
        _refused = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
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
            super().data_received(data)

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
    def __init__(self, app: Any, sock: socket.socket, uid_of: UidOf = peer_uid) -> None:
        import uvicorn
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        self.sock = sock
        self.path = sock.getsockname()
        config = uvicorn.Config(
            app,
            http=_checked_protocol(HttpToolsProtocol, os.getuid(), uid_of),
            ws="none",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            date_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
        )
        config.load()
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)

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
