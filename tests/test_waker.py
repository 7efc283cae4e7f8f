"""The wake mechanism: an absolute wall-clock timer that a change can interrupt."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest

from promptlyd.scheduling import waker as waker_module
from promptlyd.scheduling.waker import SleepWaker, TimerfdWaker, Waker, make_waker

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux")


def wakers() -> list[Waker]:
    out: list[Waker] = [SleepWaker()]
    if sys.platform.startswith("linux"):
        out.append(TimerfdWaker())
    return out


@pytest.mark.parametrize("waker", wakers(), ids=lambda w: type(w).__name__)
async def test_fires_at_the_instant(waker: Waker) -> None:
    due = datetime.now(UTC) + timedelta(milliseconds=150)
    async with asyncio.timeout(30):
        assert await waker.wait(due, asyncio.Event()) == "due"
    # never early; how late is measured by tests/bench/precision.py, not asserted here
    assert datetime.now(UTC) >= due
    waker.close()


@pytest.mark.parametrize("waker", wakers(), ids=lambda w: type(w).__name__)
async def test_a_past_instant_fires_at_once(waker: Waker,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A waker that lost the instant would sleep a whole step (made an hour here) or, with
    # its timer disarmed, for ever: 30 s is a bound nothing correct comes near.
    monkeypatch.setattr(waker_module, "FALLBACK_STEP", 3600.0)
    async with asyncio.timeout(30):
        assert await waker.wait(datetime.now(UTC) - timedelta(hours=1), asyncio.Event()) == "due"
    waker.close()


@pytest.mark.parametrize("waker", wakers(), ids=lambda w: type(w).__name__)
async def test_a_change_wakes_it_early(waker: Waker) -> None:
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wake.set)
    # due in an hour: only the event can end the wait ("woken", not "due" nor "poll")
    async with asyncio.timeout(30):
        assert await waker.wait(datetime.now(UTC) + timedelta(hours=1), wake) == "woken"
    waker.close()


@linux_only
async def test_timerfd_sleeps_without_ticking() -> None:
    """Nothing due: the timer is disarmed and the loop is not woken until told."""
    waker = TimerfdWaker()
    wake = asyncio.Event()
    task = asyncio.ensure_future(waker.wait(None, wake))
    await asyncio.sleep(0.3)
    assert not task.done()
    wake.set()
    async with asyncio.timeout(5):
        assert await task == "woken"
    waker.close()


def test_make_waker_picks_timerfd_on_linux() -> None:
    waker = make_waker()
    expected = TimerfdWaker if sys.platform.startswith("linux") else SleepWaker
    assert isinstance(waker, expected)
    waker.close()
