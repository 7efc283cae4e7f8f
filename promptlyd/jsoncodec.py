"""JSON the fast way (orjson), falling back to the standard library where orjson
refuses what Python's json accepts: integers past 64 bits and keys that are not
strings when writing, ``NaN``/``Infinity`` when reading. Compact and UTF-8 either way."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: the slow way
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: str | bytes) -> Any:
    """Raises ``ValueError`` (a ``json.JSONDecodeError`` or ``UnicodeDecodeError``)
    for what is not JSON even to Python."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
