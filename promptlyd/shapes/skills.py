"""Skill input and the Skill response shape.

promptlyd adds two fields to the seed's Skill: ``problem`` (why the skill's
file can't be used; a run of a task using it fails) and ``path`` (the skill's
file in the skills folder, e.g. for ``promptly skills edit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptlyd.shapes import common as c
from promptlyd.shapes import fields as f

MAX_CONTENT = 1_000_000


def _frontmatter(spec: f.FieldSpec, value: Any, sent: str) -> dict[str, Any]:
    return parse_frontmatter(value)


FRONTMATTER = f.Kind("frontmatter", _frontmatter,
                     lambda s: {"$ref": "#/components/schemas/SkillFrontmatter"})

# One definition of each skill field: the validator and the OpenAPI document read it.
SKILL = f.Shape("a skill", (
    f.FieldSpec("name", f.STRING, max_len=200, strip=True, required=True, column="name"),
    f.FieldSpec("content", f.STRING, max_len=MAX_CONTENT, required=True, column="content",
                description="The skill's instructions (markdown)"),
    f.FieldSpec("category", f.STRING, max_len=2000, allow_empty=True, nullable=True,
                column="category"),
    f.FieldSpec("description", f.STRING, max_len=2000, allow_empty=True, nullable=True,
                column="description"),
    f.FieldSpec("frontmatter", FRONTMATTER, nullable=True, column="frontmatter"),
    f.FieldSpec("iconUrl", f.URL, nullable=True, column="icon_url"),
    f.FieldSpec("isPublic", f.BOOLEAN, nullable=True, column="is_public"),
    f.FieldSpec("isUserInvocable", f.BOOLEAN, nullable=True, column="is_user_invocable"),
    f.FieldSpec("slug", f.SLUG, on_patch=False, column="slug",
                description="Chosen from the name when left out; fixed once created"),
    f.FieldSpec("organizationId", f.UUID, null_is_absent=True),
))
COLUMNS = SKILL.columns()


def parse_skill_input(body: Any, *, creating: bool) -> dict[str, Any]:
    return SKILL.parse(body, creating=creating)


FRONTMATTER_FIELDS = ("author", "requiredSources", "tags")


def parse_frontmatter(value: Any) -> dict[str, Any]:
    """``{author, requiredSources, tags}``; other keys belong in the file itself."""
    fm = c.expect_object(value, "frontmatter", what="frontmatter")
    for key in fm:
        if key not in FRONTMATTER_FIELDS:
            raise c.fail(f"frontmatter.{key}",
                         f"frontmatter.{key} is not a skill field (expected one of "
                         f"{', '.join(FRONTMATTER_FIELDS)}); other front-matter keys can be "
                         "added to the skill's file (`promptly skills edit`)")
    out: dict[str, Any] = dict(fm)
    if fm.get("author") is not None:
        out["author"] = c.string(fm["author"], "frontmatter.author", max_len=200)
    for key in ("tags", "requiredSources"):
        if fm.get(key) is not None:
            out[key] = c.string_list(fm[key], f"frontmatter.{key}", max_items=100)
    return {k: v for k, v in out.items() if v is not None}


def to_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    return {COLUMNS[k]: v for k, v in values.items() if k in COLUMNS}


def skill_to_api(row: Mapping[str, Any], *, organization_id: str) -> dict[str, Any]:
    fm = row.get("frontmatter") or {}
    frontmatter = c.omit_none({
        "author": fm.get("author"),
        "requiredSources": fm.get("requiredSources"),
        "tags": fm.get("tags"),
    })
    out = {
        "id": row["id"],
        "content": row["content"],
        "name": row["name"],
        "category": row.get("category"),
        "createdAt": row["created_at"],
        "description": row.get("description"),
        "frontmatter": frontmatter or None,
        "iconUrl": row.get("icon_url"),
        "isPublic": row.get("is_public"),
        "isUserInvocable": row.get("is_user_invocable"),
        "organizationId": organization_id,
        "slug": row["slug"],
        "updatedAt": row["updated_at"],
        "version": row["version"],
        "problem": row.get("problem"),
        "path": row.get("path"),
    }
    return c.omit_none(out)
