"""One reload path (SIGHUP): read the config again and hand it to every subsystem.

Each subsystem that depends on the config has ``async apply(config)``; the
daemon registers them in ONE list at start-up (``daemon.services``), so a new
subsystem joins reload by joining that list. What cannot change without a
restart (``RESTART_ONLY``) keeps its old value, with one warning. A config that
does not load is logged and the old one kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from promptlyd.config import Config
from promptlyd.errors import ConfigError

log = logging.getLogger("promptlyd.reload")

# config key → why a running daemon keeps the value it started with
RESTART_ONLY: dict[str, str] = {
    "database": "the database is opened and locked once, at start",
    "socket": "the control socket is bound once, at start",
    "secrets_backend": "the key store is opened once, at start",
    "config_dir": "the key store's file lives there and is opened once, at start",
    "web": "the dashboard's listener is bound once, at start, like the socket (and its "
           "sessions live in memory: rebinding would log everyone out anyway)",
}


class Reloadable(Protocol):
    async def apply(self, config: Config) -> None:
        """Take ``config`` from now on (it already passed validation)."""
        ...


def keep_restart_only(old: Config, new: Config) -> tuple[Config, list[str]]:
    """``new`` with the restart-only keys of ``old``, and the keys that differed (pure)."""
    changed = [key for key in RESTART_ONLY if getattr(old, key) != getattr(new, key)]
    return new.with_(**{key: getattr(old, key) for key in RESTART_ONLY}), changed


class Reloader:
    def __init__(self, config: Config, subsystems: Sequence[Reloadable],
                 load: Callable[[], Config]) -> None:
        self.config = config
        self.subsystems = subsystems
        self._load = load
        self._lock = asyncio.Lock()  # two SIGHUPs in a row apply one after the other

    async def reload(self) -> bool:
        """Load the config and apply it everywhere; False when it did not load."""
        async with self._lock:
            return await self._reload()

    async def _reload(self) -> bool:
        try:
            new = await asyncio.to_thread(self._load)
        except ConfigError as exc:
            log.error("SIGHUP: config not reloaded: %s", exc)
            return False
        new, kept = keep_restart_only(self.config, new)
        if kept:
            log.warning("SIGHUP: %s changed, which needs a restart (`systemctl --user "
                        "restart promptlyd`); kept the old value until then", ", ".join(kept))
        self.config = new
        for subsystem in self.subsystems:
            try:
                await subsystem.apply(new)
            except Exception:  # one subsystem must not keep the others on the old config
                log.exception("SIGHUP: %s could not take the new config",
                              type(subsystem).__name__)
        log.info("SIGHUP: config reloaded from %s", new.path or "defaults")
        return True
