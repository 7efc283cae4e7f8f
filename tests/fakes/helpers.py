"""Small test doubles shared by the provider and tool-loop tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


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
