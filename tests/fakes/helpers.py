"""Small test doubles shared by the provider and tool-loop tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Iterator
from socketserver import BaseServer
from typing import TypeVar

T = TypeVar("T")
S = TypeVar("S", bound=BaseServer)


@contextlib.contextmanager
def serving(server: S) -> Iterator[S]:
    """``server`` (a loopback ``http.server`` one, say) answering in a thread of its
    own for the block; shut down, closed and its thread joined after."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def within(awaitable: Awaitable[T], seconds: float = 10) -> T:
    """Await with a deadline: a hung call fails the test instead of hanging it."""
    async with asyncio.timeout(seconds):
        return await awaitable


class Secrets:
    """A key lookup (``SecretLookup``) that remembers which names were asked for."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        return self.values.get(name)


class Sleeps:
    """An instant ``sleep`` that remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


NOBODY = 65534


def request_as_nobody(connect: str, request: bytes) -> str:
    """Send ``request`` as uid/gid 65534 (needs root) over the socket that the Python
    expression ``connect`` opens, and return every byte of the answer as text."""
    import subprocess
    import sys

    code = (
        "import encodings.idna, os, socket, sys\n"
        f"os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        f"s = {connect}\n"
        f"s.sendall({request!r})\n"
        "data = b''\n"
        "while chunk := s.recv(4096):\n"
        "    data += chunk\n"
        "sys.stdout.write(data.decode())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout
