"""The API's skill writes: they land in the file first, then in the row.

Create writes ``<slug>.md``; update edits the file in place (only the keys
that changed, where they live — see ``skillfile_edit.render_skill``), or
writes it again from the row when it was deleted; delete removes the file and
the row (task links go with it). Each runs under ``SkillSync.lock`` and sets
the row to exactly what the new file parses to, so the watcher's echo of the
write changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from promptlyd.errors import Conflict, NotFound, ValidationError
from promptlyd.files import atomic_write
from promptlyd.skills.edit import render_skill
from promptlyd.skills.parse import Layout, SkillDoc, SkillProblem, parse_skill
from promptlyd.skills.plan import (
    Row,
    bumped,
    changed_columns,
    columns_for,
    read_skill_file,
    row_fields,
)
from promptlyd.skills.sync import SkillSync
from promptlyd.slugs import slugify, unique_slug
from promptlyd.store import Store
from promptlyd.timeutil import iso

log = logging.getLogger("promptlyd.skills")

_PLAIN = ("name", "description", "category", "iconUrl", "isPublic", "isUserInvocable")
_FRONT = ("author", "tags", "requiredSources")


def _fields(values: dict[str, Any], *, patch: bool) -> dict[str, Any]:
    """API values (camelCase, validated) → ``render_skill`` fields.

    ``frontmatter`` is one value: a PATCH that sends it replaces all of
    author, tags and requiredSources (null clears them).
    """
    out = {k: values[k] for k in _PLAIN if k in values}
    if "frontmatter" in values:
        front = values["frontmatter"] or {}
        out.update({k: front.get(k) for k in _FRONT} if patch else
                   {k: front[k] for k in _FRONT if k in front})
    return out


def _render(fields: dict[str, Any], content: str, previous: str | None, layout: Layout) -> str:
    try:
        return render_skill(fields, content, previous_text=previous, layout=layout)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def _get(store: Store, skill_id: str) -> Row:
    row = store.get("skills", skill_id)
    if row is None:
        raise NotFound.no_such("skill", skill_id, field="skillId")
    return row


class SkillWriter:
    """Create, update and delete skills through their files."""

    def __init__(self, sync: SkillSync) -> None:
        self.sync = sync

    def _now(self) -> str:
        return iso(self.sync.clock.now())

    async def create(self, values: dict[str, Any]) -> Row:
        sync = self.sync
        async with sync.lock:
            root = sync.root
            taken = await sync.store.read(lambda s: s.slugs("skills"))
            on_disk = await asyncio.to_thread(_names_in, root)
            if "slug" in values:
                slug = values["slug"]
                if slug in taken or slug in on_disk:
                    raise Conflict(f"a skill with slug {slug!r} already exists", field="slug")
                if slug == "readme":
                    raise ValidationError("slug 'readme' is reserved: readme.md in the skills "
                                          "folder is not loaded as a skill", field="slug")
            else:
                slug = unique_slug(slugify(values["name"], fallback="skill"), taken | on_disk)
            path = root / f"{slug}.md"
            text = _render(_fields(values, patch=False), values["content"], None, "file")
            doc = _parse(text, slug, "file", path)
            await asyncio.to_thread(atomic_write, path, text)
            sync.remember(path)
            now = self._now()
            row: Row = {"id": str(uuid.uuid4()), "slug": slug, **columns_for(doc, path),
                        "version": 1, "created_at": now, "updated_at": now}

            def insert(store: Store) -> Row:
                store.insert("skills", row)
                return _get(store, row["id"])

            created = await sync.store.write(insert)
            log.info("skill %s: created through the API (%s)", slug, path)
            return created

    async def update(self, skill_id: str, values: dict[str, Any]) -> Row:
        sync = self.sync
        async with sync.lock:
            row = await sync.store.read(lambda s: _get(s, skill_id))
            slug, layout, path = sync.skill_path(row)
            got = await asyncio.to_thread(read_skill_file, path, slug, layout)
            fields = _fields(values, patch=True)
            previous: str | None = None
            if got is None:  # deleted: write it again from the row
                fields = {**row_fields(row), **fields}
                content: str = values["content"] if "content" in values else row["content"]
            else:
                previous, parsed = got
                if isinstance(parsed, SkillProblem):
                    raise Conflict(
                        f"the skill file {path} can't be read ({parsed.message}); fix it "
                        f"first, e.g. with `promptly skills edit {slug}`")
                content = values.get("content", parsed.content)
            text = _render(fields, content, previous, layout)
            doc = _parse(text, slug, layout, path)
            if text != previous:
                await asyncio.to_thread(atomic_write, path, text)
                sync.remember(path)
            changes = bumped(row, changed_columns(row, columns_for(doc, path)), self._now())
            if changes:
                await sync.store.write(lambda s: s.update("skills", skill_id, changes))
                log.info("skill %s: updated through the API (version %s)", slug,
                         changes.get("version", row["version"]))
            return {**row, **changes}

    async def delete(self, skill_id: str) -> None:
        sync = self.sync
        async with sync.lock:
            row = await sync.store.read(lambda s: _get(s, skill_id))
            slug, layout, path = sync.skill_path(row)
            removed = await asyncio.to_thread(_remove, path, layout)

            def tx(store: Store) -> None:
                if not store.delete("skills", skill_id):
                    raise NotFound.no_such("skill", skill_id, field="skillId")

            await sync.store.write(tx)
            log.info("skill %s: deleted through the API%s", slug,
                     f" ({path} removed)" if removed else "")


def _parse(text: str, slug: str, layout: Layout, path: Path) -> SkillDoc:
    doc = parse_skill(text, slug=slug, layout=layout, path=path)
    if isinstance(doc, SkillProblem):
        raise ValidationError(doc.message)
    return doc


def _names_in(root: Path) -> set[str]:
    """Slugs taken on disk: ``<slug>.md`` files and folders (synced or not yet)."""
    try:
        names = os.listdir(root)
    except OSError:
        return set()
    return {n[:-3] if n.endswith(".md") else n for n in names}


def _remove(path: Path, layout: Layout) -> bool:
    """Remove a skill's file; a folder skill's folder too if nothing else is left in it."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    if layout == "folder":
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only if empty: references/ and the like are kept
    return True
