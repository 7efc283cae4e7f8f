"""The names a run offers a source's tools under: ``<source slug>__<tool>``.

Providers accept tool names of ``[A-Za-z0-9_-]{1,64}``; two sources never clash
because the slug is unique, and a name still taken after cutting to 64 characters
gets a numbered suffix. Pure.
"""

from __future__ import annotations

import re

MAX_LEN = 64
SEPARATOR = "__"
_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def clean(part: str) -> str:
    return _BAD.sub("_", part).strip("_") or "x"


def offered_name(prefix: str, tool: str, taken: set[str]) -> str:
    """A provider-safe name containing ``tool`` (cleaned), not in ``taken``; adds it."""
    base = f"{clean(prefix)}{SEPARATOR}{clean(tool)}"
    if len(base) > MAX_LEN:
        keep = max(8, MAX_LEN - len(SEPARATOR) - len(clean(tool)))
        base = f"{clean(prefix)[:keep]}{SEPARATOR}{clean(tool)}"[:MAX_LEN]
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name, n = base[:MAX_LEN - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name
