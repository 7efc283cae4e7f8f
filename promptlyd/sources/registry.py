"""The source kinds, by ``type``: adding one is adding a module and a line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptlyd.sources.api import ApiKind
from promptlyd.sources.base import Source, SourceError, SourceKind, SourceSettings
from promptlyd.sources.local import LocalKind
from promptlyd.sources.mcp import McpKind

KINDS: Mapping[str, SourceKind] = {k.type: k for k in (McpKind(), ApiKind(), LocalKind())}


def build(row: Mapping[str, Any], settings: SourceSettings,
          kinds: Mapping[str, SourceKind] = KINDS) -> Source:
    kind = kinds.get(str(row.get("type")))
    if kind is None:
        raise SourceError(f"source {row.get('name')!r} has unknown type {row.get('type')!r} "
                          f"(known: {', '.join(sorted(kinds))})", field="type")
    return kind.build(row, settings)
