"""Destinations of a task (pure): the explicit list merged with the legacy flags, and
targets partly masked for the run's ``deliveries``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def effective(task: Mapping[str, Any]) -> list[dict[str, str]]:
    """``destinations`` plus the legacy ``deliveryEmail*``/``deliverySms`` ones (task row
    columns), each (type, value) once, explicit ones first."""
    out: list[dict[str, str]] = [dict(d) for d in task.get("destinations") or []]
    if task.get("delivery_email") and task.get("delivery_email_address"):
        out.append({"type": "email", "value": task["delivery_email_address"]})
    if task.get("delivery_sms") and task.get("delivery_phone_number"):
        out.append({"type": "sms", "value": task["delivery_phone_number"]})
    seen: set[tuple[str, str]] = set()
    unique = []
    for dest in out:
        key = (dest["type"], dest["value"].lower() if dest["type"] == "email" else dest["value"])
        if key not in seen:
            seen.add(key)
            unique.append(dest)
    return unique


def legacy_view(dests: list[dict[str, str]], task: Mapping[str, Any]) -> dict[str, Any]:
    """The legacy flags as the API shows them: on when such a destination exists."""
    email = next((d["value"] for d in dests if d["type"] == "email"), None)
    phone = next((d["value"] for d in dests if d["type"] == "sms"), None)
    return {
        "deliveryEmail": True if email else task.get("delivery_email"),
        "deliveryEmailAddress": email or task.get("delivery_email_address"),
        "deliverySms": True if phone else task.get("delivery_sms"),
        "deliveryPhoneNumber": phone or task.get("delivery_phone_number"),
    }


def mask(kind: str, value: str) -> str:
    """``jo***@example.com``, ``+49******5678``, ``https://hooks.example.com/…``."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:2]}***@{domain}"
    if kind == "sms":
        if len(value) <= 7:
            return value[:2] + "*" * (len(value) - 2)
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    parts = urlsplit(value)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"
