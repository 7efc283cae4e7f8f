"""The dashboard's TCP listener: bind, and who is at the other end of a connection.

On Linux a loopback connection's owner is in ``/proc/net/tcp`` (``tcp6``): the
row whose local address is the peer's and remote address is ours carries the
connecting process's uid, as identd reads it. The server refuses any other uid
than the daemon's, so another user of the machine cannot reach even the login
page (and a session cookie they might obtain is useless to them).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from promptlyd.errors import PromptlydError

PROC_NET = Path("/proc/net")
NOBODY_MATCHED = -1  # loopback, Linux, no row found: refuse rather than guess


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket; a clear error when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise PromptlydError(f"the dashboard cannot listen on {shown}: {exc.strerror or exc}; "
                             "choose another [web] listen in the config (port 0 lets the "
                             "system pick one)") from exc
    sock.setblocking(False)
    return sock


def proc_hex(ip: str) -> str:
    """An address as ``/proc/net/tcp*`` writes it: each 32-bit word in host (little-endian)
    byte order, upper-case hex."""
    packed = ipaddress.ip_address(ip).packed
    return "".join(packed[i:i + 4][::-1].hex().upper() for i in range(0, len(packed), 4))


def tcp_peer_uid(sock: socket.socket, proc: Path = PROC_NET) -> int | None:
    """The uid of the local process at the other end of a loopback TCP connection;
    None when that cannot be known (not loopback, or no ``/proc/net``)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        peer_ip, peer_port = sock.getpeername()[:2]
        our_ip, our_port = sock.getsockname()[:2]
    except OSError:
        return NOBODY_MATCHED  # already gone
    if not ipaddress.ip_address(peer_ip).is_loopback:
        return None
    table = proc / ("tcp6" if sock.family == socket.AF_INET6 else "tcp")
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    want_local = f"{proc_hex(peer_ip)}:{peer_port:04X}"
    want_remote = f"{proc_hex(our_ip)}:{our_port:04X}"
    for line in lines:
        parts = line.split()
        if len(parts) > 7 and parts[1] == want_local and parts[2] == want_remote:
            return int(parts[7])
    return NOBODY_MATCHED
