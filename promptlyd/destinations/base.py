"""The Protocol every destination kind implements, and what one attempt reports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class Message:
    """One run's result, addressed to one destination. Identical on every retry."""

    message_id: str  # the Standard Webhooks ``webhook-id``: the same on every retry
    event: str  # "run.completed" | "run.failed"
    target: str  # the address, phone number or URL
    label: str | None
    task: Mapping[str, Any]  # the API's Task shape
    run: Mapping[str, Any]  # the API's TaskRun shape
    timestamp: datetime  # when the run finished

    @property
    def failed(self) -> bool:
        return self.event == "run.failed"


class SecretLookup(Protocol):
    def get(self, name: str) -> str | None: ...


class Destination(Protocol):
    """Sends one message once and says how it went; it never raises for a failed send."""

    type: str

    async def send(self, message: Message) -> Attempt: ...

    async def aclose(self) -> None: ...
