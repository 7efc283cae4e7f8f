"""Whether a run's skills have the sources they name in ``requiredSources``. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def missing_required(skills: Iterable[Mapping[str, Any]],
                     sources: Iterable[Mapping[str, Any]]) -> str | None:
    """The error for a run whose skills require sources the task lacks, else None.

    A requirement matches a source's slug, or its name (case-insensitive).
    """
    have: set[str] = set()
    for source in sources:
        have.update(str(v).lower() for v in (source.get("slug"), source.get("name")) if v)
    problems = []
    for skill in skills:
        required = (skill.get("frontmatter") or {}).get("requiredSources") or []
        lacking = [str(r) for r in required if str(r).lower() not in have]
        if lacking:
            problems.append(f"skill {skill.get('name')!r} needs source(s) "
                            f"{', '.join(lacking)}")
    if not problems:
        return None
    return ("; ".join(problems) + ": attach them to the task (sourceIds) or detach the skill")
