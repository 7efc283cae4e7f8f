"""The Protocol every source kind implements (filled in by the sources issue)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SourceTool:
    """One tool a source offers, as the source names it (namespacing is the run's job)."""

    name: str
    description: str
    input_schema: Mapping[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """One source connected for one run: opened, used by that run's calls, closed."""

    async def open(self) -> None:
        """Connect (spawn the server, open the session); raise on failure."""
        ...

    async def tools(self) -> Sequence[SourceTool]:
        """The tools it offers now."""
        ...

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> str:
        """Call ``tool``; the text the model gets back. Raise to report a failed call."""
        ...

    async def close(self) -> None:
        """Release everything (child processes included); safe to call twice."""
        ...


class SourceKind(Protocol):
    """Builds a ``Source`` from a stored source row (``type``: mcp, api, local)."""

    type: str

    def build(self, row: Mapping[str, Any]) -> Source: ...
