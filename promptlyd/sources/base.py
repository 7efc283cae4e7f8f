"""What every source kind implements, and what it is given to do so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptlyd.errors import PromptlydError

# Looks a secret up by name (``promptly secrets set NAME``); None when there is none.
SecretLookup = Callable[[str], Awaitable[str | None]]
# Registers a value made from a secret (a Basic token) with the key store's redactor.
Protect = Callable[[str], None]


def _protect_nothing(value: str) -> None:
    return None


class SourceError(PromptlydError):
    """A source could not connect, or one of its calls failed; the message says why."""

    type = "source_error"


@dataclass(frozen=True)
class SourceTool:
    """One tool a source offers, as the source names it (namespacing is the run's job)."""

    name: str
    description: str
    input_schema: Mapping[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The seeds' Tool shape: ``name``, ``description``, ``inputSchema``."""
        return {"name": self.name, "description": self.description,
                "inputSchema": dict(self.input_schema)}


@dataclass(frozen=True)
class SourceSettings:
    """The config a source needs (from ``Config``), and how it finds its secrets."""

    secrets: SecretLookup
    connect_timeout: float = 20.0
    tool_timeout: float = 60.0
    max_output_chars: int = 20_000
    protect: Protect = _protect_nothing


class Source(Protocol):
    """One source connected for one run: opened, used by that run's calls, closed."""

    async def open(self) -> Sequence[SourceTool]:
        """Connect (spawn the server, open the session) and list its tools; raise
        ``SourceError`` on failure (``close`` is still called)."""
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

    def build(self, row: Mapping[str, Any], settings: SourceSettings) -> Source: ...
