"""Sources: the data a run's model may use, as tools (SPEC §8) — MCP servers
(stdio, streamable HTTP, websocket), HTTP APIs and local folders.

A source kind is one module registered by its ``type``; it turns a stored source
into a ``Source`` that a run connects, lists and calls, and always closes. Nothing
here decides when a run happens or writes run records (the executor does).
"""

from __future__ import annotations

from promptlyd.sources.base import Source, SourceKind, SourceTool

__all__ = ["Source", "SourceKind", "SourceTool"]
