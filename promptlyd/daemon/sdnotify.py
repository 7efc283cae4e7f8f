"""``sd_notify(3)`` without a dependency: one datagram to ``$NOTIFY_SOCKET``."""

from __future__ import annotations

import socket
from collections.abc import Mapping


def sd_notify(message: str, env: Mapping[str, str]) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not under systemd."""
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True
