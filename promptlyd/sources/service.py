"""The daemon's side of sources: the runner's ``tools_for`` hook and the test endpoint.

``Sources`` reads the live config through ``config()`` (a SIGHUP reload shows up
at the next run) and looks secrets up in the daemon's key store, in a thread. With
the key store's ``redactor``, values made from secrets (a ``Basic`` token) join it,
and a test's message loses every secret it knows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptlyd.config import Config
from promptlyd.providers.registry import SecretLookup
from promptlyd.shapes.sources import config_problem
from promptlyd.sources.base import SourceError, SourceKind, SourceSettings
from promptlyd.sources.registry import KINDS, build
from promptlyd.sources.toolset import RunTools, open_sources

if TYPE_CHECKING:
    from promptlyd.secrets import Redactor

log = logging.getLogger("promptlyd.sources")


class Sources:
    def __init__(self, config: Config, keys: SecretLookup,
                 kinds: Mapping[str, SourceKind] = KINDS,
                 redactor: Redactor | None = None) -> None:
        self._config = config
        self._keys = keys
        self._kinds = kinds
        self._redactor = redactor

    async def apply(self, config: Config) -> None:
        """A reloaded config: timeouts and limits apply from the next connection on."""
        self._config = config

    def settings(self) -> SourceSettings:
        cfg = self._config
        settings = SourceSettings(secrets=self._secret,
                                  connect_timeout=cfg.source_connect_timeout_seconds,
                                  tool_timeout=cfg.tool_timeout_seconds,
                                  max_output_chars=cfg.max_tool_output_chars)
        if self._redactor is not None:
            settings = replace(settings, protect=self._redactor.add)
        return settings

    def _redact(self, text: str) -> str:
        return self._redactor.redact(text) if self._redactor is not None else text

    async def _secret(self, name: str) -> str | None:
        return await asyncio.to_thread(self._keys.get, name)

    async def tools_for(self, task: Mapping[str, Any], rows: list[dict[str, Any]]
                        ) -> RunTools | None:
        """The runner's hook: connect a run's sources (None when it has none)."""
        if not rows:
            return None
        for row in rows:
            problem = config_problem(row["type"], row.get("config") or {})
            if problem is not None:
                raise SourceError(f"source {row['name']!r} is not usable: {problem}")
        return await open_sources(rows, self.settings(), self._kinds)

    async def test(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /sources/{id}/test``: connect, list tools, close. Never raises."""
        settings = self.settings()
        source = None
        try:
            source = build(row, settings, self._kinds)
            tools = await source.open()
        except SourceError as exc:
            log.warning("source %s test failed: %s", row.get("name"), exc)
            return {"success": False, "message": self._redact(str(exc)), "tools": []}
        except Exception as exc:  # an answer, never a 500
            log.exception("source %s test crashed", row.get("name"))
            return {"success": False, "message": self._redact(f"{type(exc).__name__}: {exc}"),
                    "tools": []}
        finally:
            if source is not None:
                await source.close()
        log.info("source %s test: connected, %d tool(s)", row.get("name"), len(tools))
        return {"success": True, "message": f"connected: {len(tools)} tool(s)",
                "tools": [t.to_api() for t in tools]}
