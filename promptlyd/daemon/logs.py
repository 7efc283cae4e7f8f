"""The daemon's logging: one line per event to stderr; the level follows the config
(``log_level``, reloadable) unless ``--log-level`` fixed it."""

from __future__ import annotations

import logging
import sys

from promptlyd.config import Config

NOISY_LOGGERS = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "watchfiles")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
    ))
    logging.getLogger().handlers[:] = [handler]
    set_log_level(level)


def set_log_level(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class LogLevel:
    """The reloadable log level: ``apply`` sets it, unless ``override`` (``--log-level``)."""

    def __init__(self, override: str | None = None) -> None:
        self.override = override

    async def apply(self, config: Config) -> None:
        set_log_level(self.override or config.log_level)
