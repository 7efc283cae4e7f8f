"""A run's sources as one tool namespace (the executor's ``ToolExecutor``).

``open_sources`` connects every attached source, in attach order; one that cannot
connect fails the run with an error naming it (the ones already open are closed
first). Calls go to the source that offers the tool; ``aclose`` closes them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptlyd.providers.base import ToolSpec
from promptlyd.sources.base import Source, SourceError, SourceKind, SourceSettings, SourceTool
from promptlyd.sources.naming import offered_name
from promptlyd.sources.registry import KINDS, build

log = logging.getLogger("promptlyd.sources")


@dataclass(frozen=True)
class _Offered:
    source_id: str
    source: Source
    tool: SourceTool
    spec: ToolSpec


class RunTools:
    """The tools of a run's connected sources, each offered as ``<slug>__<tool>``."""

    def __init__(self) -> None:
        self._opened: list[tuple[Mapping[str, Any], Source]] = []
        self._by_name: dict[str, _Offered] = {}

    def add(self, row: Mapping[str, Any], source: Source, tools: Sequence[SourceTool]) -> None:
        taken = set(self._by_name)
        prefix = str(row.get("slug") or row.get("name") or row["id"])
        for tool in tools:
            name = offered_name(prefix, tool.name, taken)
            description = f"[{row.get('name')}] {tool.description}".strip()
            schema = dict(tool.input_schema) or {"type": "object", "properties": {}}
            spec = ToolSpec(name=name, description=description, input_schema=schema,
                            origin=(str(row["id"]), tool.name))
            self._by_name[name] = _Offered(str(row["id"]), source, tool, spec)

    def specs(self) -> list[ToolSpec]:
        return [offered.spec for offered in self._by_name.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        offered = self._by_name.get(name)
        if offered is None:
            known = ", ".join(self._by_name) or "none"
            raise SourceError(f"no tool named {name!r} in this run (offered: {known})")
        return await offered.source.call(offered.tool.name, arguments)

    async def aclose(self) -> None:
        opened, self._opened = self._opened, []
        results = await asyncio.gather(*(source.close() for _, source in opened),
                                       return_exceptions=True)
        for (row, _), result in zip(opened, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("closing source %s failed: %s", row.get("name"), result)


async def open_sources(rows: Sequence[Mapping[str, Any]], settings: SourceSettings,
                       kinds: Mapping[str, SourceKind] = KINDS) -> RunTools:
    """Connect every source of a run; raise ``SourceError`` naming the one that fails."""
    tools = RunTools()
    try:
        for row in rows:
            source = build(row, settings, kinds)
            tools._opened.append((row, source))
            try:
                offered = await source.open()
            except SourceError as exc:
                raise SourceError(f"source {row.get('name')!r} ({row.get('type')}) could not "
                                  f"connect: {exc}") from exc
            tools.add(row, source, offered)
            log.info("source %s connected: %d tool(s)", row.get("name"), len(offered))
    except BaseException:
        await asyncio.shield(tools.aclose())
        raise
    return tools
