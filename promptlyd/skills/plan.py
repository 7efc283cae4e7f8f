"""Skill files ↔ ``skills`` rows: reading one file safely, the row it makes, and
the plan that brings the rows in line with the folder.

Everything but ``read_skill_file`` is pure: ``plan_sync`` takes the rows, what
was read from disk and the time, and says what to insert and update, with one
log line per event. The rules, so nobody has to guess:

* A row is keyed by its slug (the file or folder name): the row keeps its id
  across edits and restarts. ``version`` goes up by one when anything the API
  shows from the file changes (``CONTENT_COLUMNS``); rewriting a file with the
  same meaning (an API write echoed back by the watcher, a ``touch``) changes
  nothing. ``updated_at`` follows every change of the row.
* A file that can't be read (``SkillProblem``) keeps its row and last good
  content, with ``problem`` set; a new broken file gets a row named after its
  slug with empty content. A run of a task attached to it fails, naming it.
* A file that vanished keeps its row with ``problem = "file deleted: <path>"``
  so tasks attached to it fail clearly instead of silently losing the skill;
  when the file comes back the row (and its id) is used again.
* A rename is a file that vanished and one that appeared in the same batch
  with the same content (and no other candidate): the row follows the file,
  keeping its id, version and task links.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptlyd.skills.parse import (
    MAX_SKILL_BYTES,
    Layout,
    SkillDoc,
    SkillProblem,
    _size,
    parse_skill,
)

Row = dict[str, Any]
LogLine = tuple[int, str]

# Columns that come from the file's meaning; a change to any of them is a new version.
CONTENT_COLUMNS = ("name", "content", "description", "category", "frontmatter", "icon_url",
                   "is_public", "is_user_invocable")
DELETED = "file deleted: "


def read_skill_file(
    path: Path, slug: str, layout: Layout, *, max_bytes: int = MAX_SKILL_BYTES,
) -> tuple[str | None, SkillDoc | SkillProblem] | None:
    """``(text, parsed)`` for one skill file; None if it is gone.

    The size is checked before anything is read, so a 5 MB file costs one
    ``fstat``. ``text`` is None when the file could not be read as text.
    Never raises for what is on disk.
    """
    def problem(message: str) -> tuple[None, SkillProblem]:
        return None, SkillProblem(slug, path, message)

    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return problem(f"cannot open the file: {exc.strerror or exc}; check its permissions")
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return problem("not a regular file; a skill is a plain Markdown file")
        if info.st_size > max_bytes:
            return problem(
                f"file is {_size(info.st_size)}; skills are limited to "
                f"{_size(max_bytes, trim=True)} — shorten it, or move reference material "
                "into a references/ folder beside a SKILL.md")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            return problem(f"cannot read the file: {exc.strerror or exc}")
    parsed = parse_skill(data, slug=slug, layout=layout, max_bytes=max_bytes, path=path)
    if isinstance(parsed, SkillProblem):
        return None, parsed
    return data.decode("utf-8"), parsed


def columns_for(doc: SkillDoc, path: Path) -> Row:
    """The row columns a readable skill file stands for."""
    front: Row = {}
    if doc.author is not None:
        front["author"] = doc.author
    if doc.required_sources:
        front["requiredSources"] = list(doc.required_sources)
    if doc.tags:
        front["tags"] = list(doc.tags)
    return {
        "name": doc.name, "content": doc.content, "description": doc.description,
        "category": doc.category, "frontmatter": front or None, "icon_url": doc.icon_url,
        "is_public": doc.is_public, "is_user_invocable": doc.is_user_invocable,
        "path": str(path), "problem": None,
    }


def row_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as ``render_skill`` fields (to write a file back from the database)."""
    front = row.get("frontmatter") or {}
    return {
        "name": row["name"], "description": row.get("description"),
        "category": row.get("category"), "iconUrl": row.get("icon_url"),
        "isPublic": row.get("is_public"), "isUserInvocable": row.get("is_user_invocable"),
        "author": front.get("author"), "tags": front.get("tags"),
        "requiredSources": front.get("requiredSources"),
    }


def changed_columns(row: Mapping[str, Any], columns: Mapping[str, Any]) -> Row:
    return {k: v for k, v in columns.items() if row.get(k) != v}


def bumped(row: Mapping[str, Any], changes: Row, now: str) -> Row:
    """``changes`` plus ``updated_at``, and ``version + 1`` if the meaning changed."""
    if not changes:
        return changes
    out = dict(changes)
    if any(k in changes for k in CONTENT_COLUMNS):
        out["version"] = int(row.get("version") or 1) + 1
    out["updated_at"] = now
    return out


@dataclass(frozen=True)
class Seen:
    """One skill file read from disk."""

    slug: str
    path: Path
    result: SkillDoc | SkillProblem


@dataclass
class Plan:
    inserts: list[Row] = field(default_factory=list)
    updates: list[tuple[str, Row]] = field(default_factory=list)  # (row id, changes)
    log: list[LogLine] = field(default_factory=list)


def plan_sync(
    rows: Sequence[Row], seen: Sequence[Seen], present: Collection[str], *, now: str,
    new_id: Callable[[], str],
) -> Plan:
    """What to change so the rows match the folder.

    ``rows``: every skill row. ``seen``: the files read this time (others are
    unchanged since the last sync). ``present``: the slugs of every skill file
    in the folder, read or not.
    """
    plan = Plan()
    by_slug = {r["slug"]: r for r in rows}
    vanished = [r for r in rows if r["slug"] not in present
                and not str(r.get("problem") or "").startswith(DELETED)]
    renamed = _renames(vanished, [s for s in seen if s.slug not in by_slug])
    for item in seen:
        row = by_slug.get(item.slug)
        old = renamed.get(item.slug)
        if row is None and old is not None:
            row = old
        if isinstance(item.result, SkillDoc):
            _plan_doc(plan, row, item, item.result, now, new_id)
        else:
            _plan_problem(plan, row, item, item.result, now, new_id)
    moved = {r["id"] for r in renamed.values()}
    for row in vanished:
        if row["id"] in moved:
            continue
        where = row.get("path") or f"{row['slug']}.md"
        plan.updates.append((row["id"], {"problem": f"{DELETED}{where}", "updated_at": now}))
        plan.log.append((logging.WARNING,
                         f"skill {row['slug']}: file deleted ({where}); kept with a problem so "
                         f"tasks using it fail clearly — remove it with "
                         f"`promptly skills rm {row['slug']}`"))
    return plan


def _renames(vanished: Sequence[Row], appeared: Sequence[Seen]) -> dict[str, Row]:
    """New slug → the vanished row it was renamed from (unambiguous matches only)."""
    out: dict[str, Row] = {}
    docs = [s for s in appeared if isinstance(s.result, SkillDoc)]
    for item in docs:
        assert isinstance(item.result, SkillDoc)
        content = item.result.content
        rows = [r for r in vanished if r["content"] == content and not r.get("problem")]
        twins = [s for s in docs if isinstance(s.result, SkillDoc)
                 and s.result.content == content]
        if len(rows) == 1 and len(twins) == 1:
            out[item.slug] = rows[0]
    return out


def _plan_doc(plan: Plan, row: Row | None, item: Seen, doc: SkillDoc, now: str,
              new_id: Callable[[], str]) -> None:
    columns = columns_for(doc, item.path)
    notes = f" ({'; '.join(doc.warnings)})" if doc.warnings else ""
    level = logging.WARNING if doc.warnings else logging.INFO
    if row is None:
        plan.inserts.append({"id": new_id(), "slug": item.slug, **columns, "version": 1,
                             "created_at": now, "updated_at": now})
        plan.log.append((level, f"skill {item.slug}: added from {item.path}{notes}"))
        return
    changes = changed_columns(row, columns)
    if row["slug"] != item.slug:
        changes["slug"] = item.slug
    changes = bumped(row, changes, now)
    if not changes:
        return
    plan.updates.append((row["id"], changes))
    if row["slug"] != item.slug:
        what = f"renamed from {row['slug']}"
    elif "version" in changes:
        what = f"updated to version {changes['version']}"
    elif row.get("problem"):
        what = "problem fixed"
    else:
        what = "moved"
    plan.log.append((level, f"skill {item.slug}: {what} ({item.path}){notes}"))


def _plan_problem(plan: Plan, row: Row | None, item: Seen, problem: SkillProblem, now: str,
                  new_id: Callable[[], str]) -> None:
    line = (logging.WARNING, f"skill {item.slug}: {item.path}: {problem.message}")
    if row is None:
        plan.inserts.append({
            "id": new_id(), "slug": item.slug, "name": item.slug, "content": "",
            "path": str(item.path), "problem": problem.message, "version": 1,
            "created_at": now, "updated_at": now})
        plan.log.append(line)
        return
    changes = changed_columns(row, {"path": str(item.path), "problem": problem.message})
    if changes:
        plan.updates.append((row["id"], {**changes, "updated_at": now}))
        plan.log.append(line)
