"""The retry schedule (pure): what an attempt's outcome means for the next one.

Like Svix: the first attempt goes out at once; after the n-th failed attempt
that is worth retrying, the next waits ``schedule[n-1]`` seconds (longer if the
receiver's ``Retry-After`` asks for it); after ``len(schedule) + 1`` attempts the
delivery has failed for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from promptlyd.destinations.base import Attempt, Outcome
from promptlyd.runs.states import OutboxStatus

MAX_RETRY_AFTER_SECONDS = 24 * 3600.0  # a Retry-After further out is capped at a day


@dataclass(frozen=True)
class Step:
    status: OutboxStatus  # pending: try again at next_attempt_at
    next_attempt_at: datetime | None = None
    detail: str | None = None


def after_attempt(attempt: Attempt, attempts_made: int, schedule: Sequence[float],
                  now: datetime) -> Step:
    """The delivery's state after its ``attempts_made``-th attempt reported ``attempt``."""
    if attempt.outcome is Outcome.SENT:
        return Step(OutboxStatus.DELIVERED)
    if attempt.outcome is Outcome.FINAL:
        return Step(OutboxStatus.FAILED, detail=attempt.detail)
    if attempts_made > len(schedule):
        tries = "attempt" if attempts_made == 1 else "attempts"
        return Step(OutboxStatus.FAILED,
                    detail=f"gave up after {attempts_made} {tries}: {attempt.detail}")
    delay = float(schedule[attempts_made - 1])
    if attempt.retry_after_seconds is not None:
        delay = max(delay, min(attempt.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
    return Step(OutboxStatus.PENDING, next_attempt_at=now + timedelta(seconds=delay),
                detail=attempt.detail)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def classify_http(code: int, headers: Mapping[str, str], now: datetime, what: str) -> Attempt:
    """An HTTP answer → an attempt: 2xx sent; 408, 429 and 5xx retry; other codes final."""
    label = str(code)
    if 200 <= code < 300:
        return Attempt(Outcome.SENT, label)
    if code == 410:
        return Attempt(Outcome.FINAL, label, f"{what} answered 410 Gone: the receiver says it "
                                             "no longer exists; remove this destination")
    if code in (408, 429) or code >= 500:
        retry_after = parse_retry_after(headers.get("retry-after"), now)
        return Attempt(Outcome.RETRY, label, f"{what} answered HTTP {code}",
                       retry_after_seconds=retry_after)
    return Attempt(Outcome.FINAL, label, f"{what} refused it with HTTP {code}; check the "
                                         "destination's address and credentials")
