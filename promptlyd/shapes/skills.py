"""Skill input and the Skill response shape.

promptlyd adds two fields to the seed's Skill: ``problem`` (why the skill's
file can't be used; a run of a task using it fails) and ``path`` (the skill's
file in the skills folder, e.g. for ``promptly skills edit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptlyd.shapes import common as c

CREATE_FIELDS = {"content", "name", "organizationId", "category", "description", "frontmatter",
                 "iconUrl", "isPublic", "isUserInvocable", "slug"}
PATCH_FIELDS = {"category", "content", "description", "frontmatter", "isPublic", "name",
                "iconUrl", "isUserInvocable", "organizationId"}
COLUMNS = {"content": "content", "name": "name", "category": "category",
           "description": "description", "frontmatter": "frontmatter", "iconUrl": "icon_url",
           "isPublic": "is_public", "isUserInvocable": "is_user_invocable", "slug": "slug"}
NULLABLE = {"category", "description", "frontmatter", "iconUrl", "isPublic", "isUserInvocable"}
MAX_CONTENT = 1_000_000


def parse_skill_input(body: Any, *, creating: bool) -> dict[str, Any]:
    body = c.expect_object(body)
    c.reject_unknown(body, CREATE_FIELDS if creating else PATCH_FIELDS, "a skill")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            if key in NULLABLE and not creating:
                out[key] = None
            elif key not in NULLABLE and key != "organizationId":
                raise c.fail(key, f"{key} must not be null")
            continue
        if key == "content":
            out[key] = c.string(value, key, max_len=MAX_CONTENT)
        elif key == "name":
            out[key] = c.string(value, key, max_len=200).strip()
        elif key in ("category", "description"):
            out[key] = c.string(value, key, max_len=2000, allow_empty=True)
        elif key == "iconUrl":
            out[key] = c.url(value, key)
        elif key in ("isPublic", "isUserInvocable"):
            out[key] = c.boolean(value, key)
        elif key == "slug":
            out[key] = c.slug(value, key)
        elif key == "frontmatter":
            out[key] = parse_frontmatter(value)
        elif key == "organizationId":
            c.uuid_str(value, key)
    if creating:
        for required in ("name", "content"):
            if required not in out:
                raise c.fail(required, f"{required} is required")
    return out


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
