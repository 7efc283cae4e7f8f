"""The dashboard as a daemon subsystem: its listener, its sessions, its login links.

Started after the socket when ``[web] listen`` is set. Served by the same
tick-less uvicorn driver as the socket (``daemon.server.ApiServer``), so an idle
daemon with the dashboard on has no timer more than without it; connections
are checked for their owner's uid (``web.listen.tcp_peer_uid``).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from promptlyd.api.context import AppContext
from promptlyd.config import WebConfig
from promptlyd.daemon.server import ConnectionLimits
from promptlyd.timeutil import iso
from promptlyd.web.auth import Sessions

log = logging.getLogger("promptlyd.web")


def _url_host(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # localhost
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    return f"[{host}]" if ip.version == 6 else host


def allowed_hosts(host: str, port: int, allow_remote: bool) -> set[str] | None:
    """The ``Host`` headers a browser sends to this listener; None = any (a remote
    listener on a wildcard address can be reached under names we cannot know)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if allow_remote and (ip is None or not ip.is_loopback):
        return None
    names = {f"{_url_host(host)}:{port}", f"localhost:{port}"}
    if host == "localhost":  # bound to what localhost resolves to: its numeric names too
        names |= {f"127.0.0.1:{port}", f"[::1]:{port}"}
    return names


class Dashboard:
    def __init__(self, web: WebConfig, ctx: AppContext, api_app: Any,
                 limits: ConnectionLimits | None = None) -> None:
        self.config = web
        self.ctx = ctx
        self.api_app = api_app
        self.limits = limits or ConnectionLimits()  # the socket's, so reload reaches both
        self.sessions = Sessions(ctx.clock)
        self.port = web.port
        self._sock: Any = None
        self._server: Any = None
        self._api: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.config.host)}:{self.port}"

    def bind(self) -> None:
        """Take the port (PromptlydError saying so when it is taken)."""
        from promptlyd.web.listen import bind_tcp

        self._sock = bind_tcp(self.config.host, self.config.port)
        self.port = self._sock.getsockname()[1]

    async def start(self) -> None:
        from promptlyd.daemon.server import ApiServer
        from promptlyd.web.app import create_dashboard
        from promptlyd.web.listen import tcp_peer_uid

        if self._sock is None:
            self.bind()
        sock = self._sock
        app, self._api = create_dashboard(
            self.ctx, self.api_app, self.sessions,
            allowed_hosts(self.config.host, self.port, self.config.allow_remote))
        self._server = ApiServer(app, sock, self.limits, uid_of=tcp_peer_uid)
        await self._server.start()
        log.info("dashboard on %s (log in with `promptly dashboard`)", self.base_url)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def login_link(self) -> dict[str, Any]:
        """A fresh one-time login link (``POST /api/promptly/dashboard/login``)."""
        token, expires = self.sessions.issue_login_token()
        log.info("dashboard: issued a login link (valid until %s)", iso(expires))
        return {"url": f"{self.base_url}/login?token={token}", "expiresAt": iso(expires)}

