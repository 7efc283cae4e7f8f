"""Field checks shared by every shape. Each raises ``ValidationError`` naming the field."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from promptlyd.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)

# Default limits, and how the document describes them (shapes.fields).
MAX_STRING = 10_000
MAX_ITEMS = 1000
MAX_EMAIL = 320
MAX_PHONE = 40
MAX_URL = 4096
NOT_BLANK = r"\S"  # JSON Schema patterns search: some character that is not whitespace
UUID_SCHEMA: dict[str, str] = {"type": "string", "format": "uuid"}

UNSET: Any = object()  # "not sent" — distinct from an explicit null


def fail(field: str, message: str) -> ValidationError:
    return ValidationError(message, field=field)


def reject_unknown(body: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    allowed = set(allowed)
    for key in body:
        if key not in allowed:
            raise fail(key, f"unknown field {key!r} for {what} "
                            f"(allowed: {', '.join(sorted(allowed))})")


def expect_object(
    body: Any, field: str | None = None, what: str = "request body"
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError(f"{what} must be a JSON object, got {_kind(body)}", field=field)
    return body


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def string(value: Any, field: str, *, max_len: int = MAX_STRING,
           allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(field, f"{field} must be a string, got {_kind(value)}")
    if not allow_empty and not value.strip():
        raise fail(field, f"{field} must not be empty")
    if len(value) > max_len:
        raise fail(field, f"{field} is {len(value)} characters; the limit is {max_len}")
    return value


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise fail(field, f"{field} must be true or false, got {_kind(value)}")
    return value


def number(value: Any, field: str, *, minimum: float | None = None,
           maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(field, f"{field} must be a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise fail(field, f"{field} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise fail(field, f"{field} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise fail(field, f"{field} must be at most {maximum}, got {value}")
    return float(value)


def integer(value: Any, field: str, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(field, f"{field} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise fail(field, f"{field} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise fail(field, f"{field} must be at most {maximum}, got {value}")
    return value


def string_list(value: Any, field: str, *, max_items: int = MAX_ITEMS) -> list[str]:
    if not isinstance(value, list):
        raise fail(field, f"{field} must be an array of strings, got {_kind(value)}")
    if len(value) > max_items:
        raise fail(field, f"{field} has {len(value)} items; the limit is {max_items}")
    for item in value:
        if not isinstance(item, str):
            raise fail(field, f"{field} must contain only strings, got {_kind(item)}")
    return list(value)


def enum(value: Any, field: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise fail(field, f"{field} must be one of {', '.join(choices)}; got {value!r}")
    return value


def uuid_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise fail(field, f"{field} must be a UUID string, got {_kind(value)}")
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise fail(field, f"{field} must be a UUID, got {value!r}") from exc
    return str(parsed)


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def uuid_list(value: Any, field: str) -> list[str]:
    items = string_list(value, field)
    out: list[str] = []
    for item in items:
        try:
            norm = str(uuid.UUID(item))
        except ValueError as exc:
            raise fail(field, f"{field} must contain UUIDs, got {item!r}") from exc
        if norm not in out:
            out.append(norm)
    return out


def email(value: Any, field: str) -> str:
    text = string(value, field, max_len=MAX_EMAIL).strip()
    if not _EMAIL.match(text):
        raise fail(field, f"{field} must be an email address like me@example.com, got {value!r}")
    return text


def phone(value: Any, field: str) -> str:
    text = string(value, field, max_len=MAX_PHONE)
    compact = re.sub(r"[\s().-]", "", text)
    if not _PHONE.match(compact):
        raise fail(field, f"{field} must be a phone number in international format "
                          f"like +4915112345678, got {value!r}")
    return compact if compact.startswith("+") else "+" + compact


def url(value: Any, field: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    text = string(value, field, max_len=MAX_URL).strip()
    parts = urlsplit(text)
    if parts.scheme not in schemes or not parts.netloc:
        raise fail(field, f"{field} must be a {' or '.join(s + '://' for s in schemes)} URL, "
                          f"got {value!r}")
    return text


def slug(value: Any, field: str) -> str:
    text = string(value, field, max_len=64)
    if not _SLUG.match(text):
        raise fail(field, f"{field} must be lowercase letters, digits and hyphens "
                          f"(at most 64), got {value!r}")
    return text


def omit_none(d: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """Drop keys whose value is None, except those in ``keep`` (``| null`` fields)."""
    keep = set(keep)
    return {k: v for k, v in d.items() if v is not None or k in keep}
