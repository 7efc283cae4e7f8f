"""Destinations: where a finished run's result goes (SPEC §9) — email, SMS, webhook.

A destination kind is one module registered by its ``type``; it sends one run's
result once and reports how that one attempt went. Retries, the outbox and the
run's ``deliveryStatus`` belong to the delivery worker, not to the kinds; nothing
here changes a run's own status or output.
"""

from __future__ import annotations

from promptlyd.destinations.base import Attempt, Destination, Outcome

__all__ = ["Attempt", "Destination", "Outcome"]
