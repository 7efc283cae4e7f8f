"""Sleeping until a wall-clock instant — and noticing when the wall clock jumps.

On Linux, a ``timerfd`` on ``CLOCK_REALTIME`` armed with an absolute expiry
(``TFD_TIMER_ABSTIME``) fires at the due wall-clock instant even across a
suspend (monotonic sleeps don't count suspended time), and
``TFD_TIMER_CANCEL_ON_SET`` makes it fire at once when the clock is set (NTP
step, manual change). Nothing ticks in between: an idle daemon costs nothing.

Elsewhere, the fallback sleeps on the monotonic clock in steps of at most
``FALLBACK_STEP`` seconds, so a jump or a resume is noticed within that.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import os
import sys
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger("promptlyd.waker")

FALLBACK_STEP = 5.0


class Waker(Protocol):
    async def wait(self, until: datetime | None, wake: asyncio.Event) -> str:
        """Return "due" at ``until``, "woken" when ``wake`` is set, "jump" on a clock jump."""
        ...

    def close(self) -> None: ...


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_CLOCK_REALTIME = 0
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
_TFD_TIMER_CANCEL_ON_SET = 2


class TimerfdWaker:
    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                  ctypes.c_void_p]
        fd = libc.timerfd_create(_CLOCK_REALTIME, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd: int = fd

    def _arm(self, until: datetime | None) -> None:
        spec = _Itimerspec()
        if until is not None:
            ts = until.timestamp()
            sec = int(ts)
            spec.it_value.tv_sec = sec
            spec.it_value.tv_nsec = max(1, round((ts - sec) * 1e9))  # 0 would disarm
            if spec.it_value.tv_nsec >= 1_000_000_000:
                spec.it_value.tv_sec += 1
                spec.it_value.tv_nsec -= 1_000_000_000
        flags = _TFD_TIMER_ABSTIME | _TFD_TIMER_CANCEL_ON_SET
        if self._settime(self.fd, flags, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _read(self) -> str:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            return "spurious"
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                return "jump"
            raise
        return "due"

    async def wait(self, until: datetime | None, wake: asyncio.Event) -> str:
        loop = asyncio.get_running_loop()
        fired: asyncio.Future[str] = loop.create_future()

        def on_readable() -> None:
            result = self._read()
            if result != "spurious" and not fired.done():
                fired.set_result(result)

        self._arm(until)
        loop.add_reader(self.fd, on_readable)
        woken: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
        try:
            done, _ = await asyncio.wait([fired, woken], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(self.fd)
            self._arm(None)
            woken.cancel()
        if fired in done:
            return fired.result()
        return "woken"

    def close(self) -> None:
        os.close(self.fd)


class SleepWaker:
    """Portable fallback: monotonic sleeps of at most FALLBACK_STEP seconds."""

    def __init__(self, now: object = None) -> None:
        from promptlyd.clock import SystemClock

        self._clock = SystemClock()

    async def wait(self, until: datetime | None, wake: asyncio.Event) -> str:
        step = FALLBACK_STEP
        if until is not None:
            step = min(step, max(0.0, (until - self._clock.now()).total_seconds()))
        try:
            async with asyncio.timeout(step):
                await wake.wait()
        except TimeoutError:
            return "due" if until is not None and self._clock.now() >= until else "poll"
        return "woken"

    def close(self) -> None:
        pass


def make_waker() -> Waker:
    if sys.platform.startswith("linux"):
        try:
            return TimerfdWaker()
        except (OSError, AttributeError) as exc:
            log.warning("timerfd unavailable (%s): falling back to %g s sleeps", exc,
                        FALLBACK_STEP)
    return SleepWaker()
