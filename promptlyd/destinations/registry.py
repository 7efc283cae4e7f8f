"""Destination kinds by ``type``: adding one is adding a module and a line here.

Kinds are imported when first used (aiosmtplib and httpx stay out of start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.destinations.base import Attempt, Destination, Message, SecretLookup

KINDS: dict[str, str] = {
    "email": "promptlyd.destinations.mail:EmailDestination",
    "sms": "promptlyd.destinations.sms:SmsDestination",
    "webhook": "promptlyd.destinations.webhook:WebhookDestination",
}

Factory = Callable[[Config, SecretLookup, Clock], Destination]


def factory(kind: str) -> Factory:
    module, _, name = KINDS[kind].partition(":")
    return cast(Factory, getattr(importlib.import_module(module), name))


class Destinations:
    """One sender per kind, built on first use and rebuilt when the config changes.

    A reload does not close a sender under a send in flight (that would fail the
    attempt, maybe for good): it is retired, and closed when its last send ends.
    """

    def __init__(self, config: Config, secrets: SecretLookup, clock: Clock,
                 kinds: dict[str, Factory] | None = None) -> None:
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self._kinds = kinds
        self._built: dict[str, Destination] = {}
        self._sending: dict[Destination, int] = {}  # sender → its sends in flight
        self._retired: list[Destination] = []

    def get(self, kind: str) -> Destination:
        if kind not in self._built:
            make = self._kinds[kind] if self._kinds is not None else factory(kind)
            self._built[kind] = make(self.config, self.secrets, self.clock)
        return self._built[kind]

    async def send(self, kind: str, message: Message) -> Attempt:
        """``message`` through the current sender of ``kind``."""
        dest = self.get(kind)
        self._sending[dest] = self._sending.get(dest, 0) + 1
        try:
            return await dest.send(message)
        finally:
            self._sending[dest] -= 1
            if not self._sending[dest]:
                del self._sending[dest]
                if dest in self._retired:
                    self._retired.remove(dest)
                    await dest.aclose()

    async def apply(self, config: Config) -> None:
        self.config = config
        built, self._built = self._built, {}
        for dest in built.values():
            if dest in self._sending:
                self._retired.append(dest)  # closed when its sends end
            else:
                await dest.aclose()

    async def aclose(self) -> None:
        built, self._built = self._built, {}
        retired, self._retired = self._retired, []
        for dest in [*built.values(), *retired]:
            await dest.aclose()
