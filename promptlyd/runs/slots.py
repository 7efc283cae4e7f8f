"""The global concurrency limit (``max_concurrent_runs``): the one slot count.

A run holds a slot from ``running`` until it ends. The executor's own runs wait
for one (``take``); the scheduler takes what is free for a wake-up at once
(``take_up_to``) and gives back what its claim did not use. A slot given back
passes straight to the longest waiter, so waiters are served in order and a
``take_up_to`` never jumps the queue.
"""

from __future__ import annotations

import asyncio


class Slots:
    def __init__(self, size: int) -> None:
        self.size = size
        self.active = 0  # slots held now (may exceed size for a while after a shrink)
        self._waiters: list[asyncio.Future[None]] = []

    def try_take(self) -> bool:
        """One slot now, or False (never while others wait)."""
        if self.active < self.size and not self._waiters:
            self.active += 1
            return True
        return False

    def take_up_to(self, count: int) -> int:
        """As many as ``count`` slots now; returns how many were taken."""
        taken = 0
        while taken < count and self.try_take():
            taken += 1
        return taken

    async def take(self) -> None:
        """Wait for a slot (in order of asking)."""
        if self.try_take():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut in self._waiters:
                self._waiters.remove(fut)
            elif fut.done() and not fut.cancelled():
                self.give()  # handed to us just as we were cancelled: pass it on
            raise

    def give(self, count: int = 1) -> None:
        """Give ``count`` slots back; each goes to the next waiter, if any."""
        for _ in range(count):
            self._give_one()

    def _give_one(self) -> None:
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                if self.active > self.size:  # shrunk meanwhile: the slot goes away
                    self._waiters.insert(0, fut)
                    break
                fut.set_result(None)  # the slot passes straight to the next waiter
                return
        self.active -= 1

    def resize(self, size: int) -> None:
        """A new limit (config reload): waiters get the room a larger limit makes;
        a smaller one takes effect as running runs end."""
        self.size = size
        while self._waiters and self.active < self.size:
            fut = self._waiters.pop(0)
            if not fut.done():
                self.active += 1
                fut.set_result(None)
