"""/api/promptly/skills… and /api/promptly/sources… (CRUD, and the source test hook).

Skills are files (SPEC §8): their writes go through ``ctx.skills`` (a
``SkillWriter``), which writes the file and the row together; reads come
from the rows, which the folder watcher keeps in line with the files.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.api.http import (
    JSON,
    check_org_query,
    ctx_of,
    delete,
    fetch,
    json_body,
    no_content,
    path_id,
)
from promptlyd.errors import Conflict, NotAvailable
from promptlyd.shapes import skills as skill_shape
from promptlyd.shapes import sources as source_shape
from promptlyd.skills.write import SkillWriter
from promptlyd.slugs import slugify, unique_slug
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso

log = logging.getLogger("promptlyd.api")


def _crud(
    table: str,
    what: str,
    id_field: str,
    parse: Callable[..., dict[str, Any]],
    to_columns: Callable[[dict[str, Any]], dict[str, Any]],
    to_api: Callable[..., dict[str, Any]],
) -> list[Route]:
    """The five CRUD routes of a table kept only in the database (sources)."""
    base = f"/api/promptly/{table}"

    async def list_items(request: Request) -> Response:
        ctx = ctx_of(request)
        check_org_query(request)
        rows = await ctx.store.read(lambda s: s.list_rows(table))
        return JSON([to_api(r, organization_id=ctx.organization_id) for r in rows])

    async def create(request: Request) -> Response:
        ctx = ctx_of(request)
        values = parse(await json_body(request), creating=True)
        stamp = iso(ctx.clock.now())
        row: Row = {"id": str(uuid.uuid4()), "created_at": stamp, "updated_at": stamp,
                    **to_columns(values)}

        def tx(store: Store) -> Row:
            taken = store.slugs(table)
            if "slug" in values:
                if values["slug"] in taken:
                    raise Conflict(f"a {what} with slug {values['slug']!r} already exists",
                                   field="slug")
            else:
                row["slug"] = unique_slug(slugify(row["name"]), taken)
            store.insert(table, row)
            return fetch(store, table, row["id"], id_field)

        created = await ctx.store.write(tx)
        return JSON(to_api(created, organization_id=ctx.organization_id), status_code=201)

    async def get(request: Request) -> Response:
        ctx = ctx_of(request)
        item_id = path_id(request, id_field, what)
        row = await ctx.store.read(lambda s: fetch(s, table, item_id, id_field))
        return JSON(to_api(row, organization_id=ctx.organization_id))

    async def update(request: Request) -> Response:
        ctx = ctx_of(request)
        item_id = path_id(request, id_field, what)
        body = await json_body(request)

        def tx(store: Store) -> Row:
            row = fetch(store, table, item_id, id_field)
            values = parse(body, creating=False, current_type=row["type"])
            changes = to_columns(values)
            changes = {k: v for k, v in changes.items() if row.get(k) != v}
            if changes:
                changes["updated_at"] = iso(ctx.clock.now())
                store.update(table, item_id, changes)
            return {**row, **changes}

        row = await ctx.store.write(tx)
        return JSON(to_api(row, organization_id=ctx.organization_id))

    async def delete_item(request: Request) -> Response:
        ctx = ctx_of(request)
        item_id = path_id(request, id_field, what)
        await ctx.store.write(lambda s: delete(s, table, item_id, id_field))
        return no_content()

    return [
        Route(base, list_items, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(f"{base}/{{{id_field}}}", get, methods=["GET"]),
        Route(f"{base}/{{{id_field}}}", update, methods=["PATCH"]),
        Route(f"{base}/{{{id_field}}}", delete_item, methods=["DELETE"]),
    ]


async def test_source(request: Request) -> Response:
    """Connect, list tools, store them. A failure is ``success: false``, never a 500."""
    ctx = ctx_of(request)
    source_id = path_id(request, "sourceId", "source")
    row = await ctx.store.read(lambda s: fetch(s, "sources", source_id, "sourceId"))
    problem = source_shape.config_problem(row["type"], row["config"])
    if problem is not None:
        return _tested(request, source_id, {"success": False, "message": problem, "tools": []})
    tester = ctx.source_tester
    if tester is None:
        return JSON({"success": False, "message": "connecting to sources is not available in "
                     "this version of promptlyd yet", "tools": []})
    try:
        result = await tester(row)
    except Exception as exc:  # a failure to connect is an answer, never a 500
        log.warning("testing source %s failed: %s", source_id[:8], exc)
        result = {"success": False, "message": f"{type(exc).__name__}: {exc}", "tools": []}
    stamp = iso(ctx.clock.now())
    changes: Row = {"is_active": bool(result.get("success")), "updated_at": stamp}
    if result.get("success"):
        changes["last_connected_at"] = stamp
        changes["tools"] = result.get("tools", [])
    await ctx.store.write(lambda s: s.update("sources", source_id, changes))
    return _tested(request, source_id, result)


def _tested(request: Request, source_id: str, result: dict[str, Any]) -> Response:
    ctx_of(request).events.publish("source.tested", {
        "sourceId": source_id, "success": bool(result.get("success")),
        "tools": len(result.get("tools") or [])})
    return JSON(result)


def _writer(request: Request) -> SkillWriter:
    writer = ctx_of(request).skills
    if writer is None:
        raise NotAvailable("skills are not available: the daemon has no skills folder")
    return writer


async def list_skills(request: Request) -> Response:
    ctx = ctx_of(request)
    check_org_query(request)
    rows = await ctx.store.read(lambda s: s.list_rows("skills"))
    return JSON([skill_shape.skill_to_api(r, organization_id=ctx.organization_id) for r in rows])


async def create_skill(request: Request) -> Response:
    ctx = ctx_of(request)
    values = skill_shape.parse_skill_input(await json_body(request), creating=True)
    row = await _writer(request).create(values)
    return JSON(skill_shape.skill_to_api(row, organization_id=ctx.organization_id),
                status_code=201)


async def get_skill(request: Request) -> Response:
    ctx = ctx_of(request)
    skill_id = path_id(request, "skillId", "skill")
    row = await ctx.store.read(lambda s: fetch(s, "skills", skill_id, "skillId"))
    return JSON(skill_shape.skill_to_api(row, organization_id=ctx.organization_id))


async def update_skill(request: Request) -> Response:
    ctx = ctx_of(request)
    skill_id = path_id(request, "skillId", "skill")
    body = await json_body(request)
    values = skill_shape.parse_skill_input(body, creating=False)
    row = await _writer(request).update(skill_id, values)
    return JSON(skill_shape.skill_to_api(row, organization_id=ctx.organization_id))


async def delete_skill(request: Request) -> Response:
    skill_id = path_id(request, "skillId", "skill")
    await _writer(request).delete(skill_id)
    return no_content()


SKILLS = "/api/promptly/skills"
routes = [
    Route(SKILLS, list_skills, methods=["GET"]),
    Route(SKILLS, create_skill, methods=["POST"]),
    Route(f"{SKILLS}/{{skillId}}", get_skill, methods=["GET"]),
    Route(f"{SKILLS}/{{skillId}}", update_skill, methods=["PATCH"]),
    Route(f"{SKILLS}/{{skillId}}", delete_skill, methods=["DELETE"]),
    *_crud("sources", "source", "sourceId", source_shape.parse_source_input,
           source_shape.to_columns, source_shape.source_to_api),
    Route("/api/promptly/sources/{sourceId}/test", test_source, methods=["POST"]),
]
