"""Retrying transient model errors with exponential backoff and jitter.

The SDKs' own retries are switched off (``max_retries=0``) so that every provider
retries the same way, here, with an injectable ``sleep`` that tests replace.

Only ``ModelError`` kinds in ``RETRYABLE_KINDS`` (rate_limit, server, timeout,
connection) are retried; auth, bad_request, not_found and bad_response are not,
nor is anything that is not a ``ModelError``. A server's Retry-After is honoured,
capped at ``max_delay``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from promptlyd.providers.base import ModelError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
# Called before each retry with (attempt that failed, its error, the delay chosen).
OnRetry = Callable[[int, ModelError, float], None]


def backoff_delay(
    attempt: int, error: ModelError, *, base_delay: float, max_delay: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """How long to wait after failed attempt number ``attempt`` (1-based).

    The server's Retry-After when it gave one (capped at ``max_delay``); otherwise
    ``base_delay * 2**(attempt-1)`` capped at ``max_delay``, with "equal jitter":
    somewhere between half of that and all of it, so parallel runs spread out.
    """
    if error.retry_after is not None:
        return max(0.0, min(error.retry_after, max_delay))
    ceiling = min(max_delay, base_delay * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
    rand: Callable[[], float] = random.random,
) -> T:
    """Await ``call()`` up to ``attempts`` times while it fails with a retryable ModelError.

    When every attempt failed, the last error is raised again with
    "(gave up after N attempts)" added to its message and ``attempts`` set.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 1
    while True:
        try:
            return await call()
        except ModelError as exc:
            if not exc.retryable:
                raise
            if attempt >= attempts:
                if attempts == 1:
                    raise
                final = exc.with_message(f"{exc.message} (gave up after {attempts} attempts)")
                final.attempts = attempts
                raise final from exc
            delay = backoff_delay(attempt, exc, base_delay=base_delay, max_delay=max_delay,
                                  rand=rand)
            log.info("%s error from %s (attempt %d of %d); retrying in %.1f s",
                     exc.kind, exc.provider or "model", attempt, attempts, delay)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            await sleep(delay)
            attempt += 1


@dataclass(frozen=True)
class RetryPolicy:
    """``with_retries`` settings for one provider (``attempts`` = 1 + max_retries)."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    sleep: Sleep = asyncio.sleep

    async def run(self, call: Callable[[], Awaitable[T]], *,
                  on_retry: OnRetry | None = None) -> T:
        return await with_retries(call, attempts=self.attempts, base_delay=self.base_delay,
                                  max_delay=self.max_delay, sleep=self.sleep, on_retry=on_retry)


NO_RETRY = RetryPolicy(attempts=1)
