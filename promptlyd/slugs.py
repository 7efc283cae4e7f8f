"""Slugs: the short, stable, URL-safe names of skills and sources."""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str, *, fallback: str = "item") -> str:
    """Lowercase ASCII letters, digits and single hyphens, at most 64 characters.

    ``fallback`` when nothing usable is left. Never ``"readme"`` (a skill file
    ``readme.md`` is not loaded, so that slug could never name a skill file).
    """
    text = unicodedata.normalize("NFKD", name.casefold())
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"['`]", "", text)
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    text = text[:64].rstrip("-") or fallback
    return "readme-skill" if text == "readme" else text


def unique_slug(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3`` … — the first one not in ``taken``."""
    if base not in taken:
        return base
    n = 2
    while True:
        candidate = f"{base[:60]}-{n}"
        if candidate not in taken:
            return candidate
        n += 1
