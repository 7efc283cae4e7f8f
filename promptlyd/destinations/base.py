"""The Protocol every destination kind implements (filled in by the destinations issue)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Outcome(enum.Enum):
    SENT = "sent"  # the receiver accepted it
    RETRY = "retry"  # worth trying again later (timeout, 5xx, 429 …)
    FINAL = "final"  # failed for good (4xx, rejected address, 410 Gone …)


@dataclass(frozen=True)
class Attempt:
    """What one try to deliver reported."""

    outcome: Outcome
    code: str | None = None  # HTTP status or SMTP reply code
    detail: str | None = None  # a reason a person can act on
    retry_after_seconds: float | None = None  # the receiver's own Retry-After


class Destination(Protocol):
    """Sends one run's result to one target (``{type, value, label}``)."""

    type: str

    async def send(self, target: Mapping[str, Any], task: Mapping[str, Any],
                   run: Mapping[str, Any]) -> Attempt: ...
