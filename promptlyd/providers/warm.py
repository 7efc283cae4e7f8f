"""Warming the providers' libraries in a worker thread at start-up.

Importing a model SDK, building its first client (an HTTP client with a TLS
context) and parsing its first response (pydantic builds validators lazily)
costs up to a second of CPU. Done on the event loop at the first due run, that
second makes every run due meanwhile late; done here, in a thread at start-up,
it is paid before anything is due. Each provider class says what warming means
for it (a static ``warm()``); kinds without one are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger("promptlyd.providers")


def warm_kinds(kinds: Iterable[str], factories: Mapping[str, object]) -> None:
    for kind in sorted(set(kinds)):
        warm: Callable[[], None] | None = getattr(factories.get(kind), "warm", None)
        if warm is None:
            continue
        try:
            warm()
        except Exception as exc:  # warming is an optimisation, never a failure
            log.warning("could not warm the %s provider kind: %s", kind, exc)
