"""/api/promptly/tasks… : create, read, update, delete, attach/detach, run, runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.api.context import AppContext
from promptlyd.api.http import (
    DEFAULT_PREVIEW,
    JSON,
    MAX_PREVIEW,
    WHAT,
    check_org_query,
    ctx_of,
    delete,
    fetch,
    fetch_all,
    json_body,
    no_content,
    path_id,
    query_int,
    query_limit,
    streamed_json,
)
from promptlyd.errors import NotFound
from promptlyd.shapes import common as c
from promptlyd.shapes import tasks as shape
from promptlyd.shapes.runs import run_to_api
from promptlyd.shapes.skills import skill_to_api
from promptlyd.shapes.sources import source_to_api
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso, parse_iso, to_ms

LIST_PAGE = 1000  # tasks a page of a streamed list


def _expand(ctx: AppContext, store: Store, rows: list[Row]) -> list[dict[str, Any]]:
    """Task rows → API objects with their skills and sources expanded, in attach order."""
    if not rows:
        return []
    return _expander(ctx, store, [r["id"] for r in rows] if len(rows) < 500 else None)(rows)


def _expander(ctx: AppContext, store: Store, ids: list[str] | None) -> Callable[
    [list[Row]], list[dict[str, Any]]
]:
    """What ``_expand`` does, for rows of the tasks ``ids`` (None: any task): the links,
    skills and sources read once, then applied to as many batches of rows as come."""
    skill_links, source_links = store.task_links(ids)
    skills = store.get_many("skills", {s for v in skill_links.values() for s in v})
    sources = store.get_many("sources", {s for v in source_links.values() for s in v})
    org, user = ctx.organization_id, ctx.user_id
    skill_api = {k: skill_to_api(v, organization_id=org) for k, v in skills.items()}
    source_api = {k: source_to_api(v, organization_id=org) for k, v in sources.items()}

    def expand(rows: list[Row]) -> list[dict[str, Any]]:
        return [
            shape.task_to_api(
                r, organization_id=org, user_id=user,
                skills=[skill_api[s] for s in linked if s in skill_api]
                if (linked := skill_links.get(r["id"])) else (),
                sources=[source_api[s] for s in linked if s in source_api]
                if (linked := source_links.get(r["id"])) else (),
            )
            for r in rows
        ]

    return expand


def _task_list_json(ctx: AppContext, store: Store, limit: int | None) -> Iterator[bytes]:
    """``GET /tasks`` as JSON text, a page of tasks at a time (one read transaction)."""
    pages = store.iter_tasks(limit, page=LIST_PAGE)
    first = next(pages, [])
    if len(first) < LIST_PAGE:  # all of it: links of just these tasks
        yield orjson.dumps(_expand(ctx, store, first))
        return
    expand = _expander(ctx, store, None)
    yield b"[" + orjson.dumps(expand(first))[1:-1]
    for rows in pages:
        yield b"," + orjson.dumps(expand(rows))[1:-1]
    yield b"]"


def _get_task(store: Store, task_id: str) -> Row:
    return fetch(store, "tasks", task_id, "taskId")


async def list_tasks(request: Request) -> Response:
    ctx = ctx_of(request)
    check_org_query(request)
    limit = query_limit(request) if "limit" in request.query_params else None
    # streamed a page at a time: the first pages cross the socket (and are parsed by
    # the client) while the database thread reads and shapes the next
    return await streamed_json(ctx.store.stream(lambda s: _task_list_json(ctx, s, limit)))


async def create_task(request: Request) -> Response:
    ctx = ctx_of(request)
    inp = shape.parse_task_input(await json_body(request), creating=True,
                                 check_model=ctx.check_model)
    now = to_ms(ctx.clock.now())
    stamp = iso(now)
    row: Row = {
        "id": str(uuid.uuid4()),
        "model": ctx.config.default_model,
        "schedule": "daily",
        "timezone": ctx.config.timezone,
        "status": "active",
        "anchor_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
        "last_run_at": None,
        **shape.to_columns(inp.values),
    }
    shape.check_consistency(row)
    row["next_run_at"] = shape.compute_next_run(row, now)
    skill_ids, source_ids = inp.skill_ids or [], inp.source_ids or []

    def tx(store: Store) -> dict[str, Any]:
        fetch_all(store, "skills", skill_ids, "skillIds")
        fetch_all(store, "sources", source_ids, "sourceIds")
        store.insert("tasks", row)
        store.set_links("skills", row["id"], skill_ids)
        store.set_links("sources", row["id"], source_ids)
        return _expand(ctx, store, [row])[0]

    task = await ctx.store.write(tx)
    ctx.task_changed(task["id"], task["nextRunAt"])
    return JSON(task, status_code=201)


async def get_task(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")
    task = await ctx.store.read(lambda s: _expand(ctx, s, [_get_task(s, task_id)])[0])
    return JSON(task)


async def update_task(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")
    inp = shape.parse_task_input(await json_body(request), creating=False,
                                 check_model=ctx.check_model)
    now = to_ms(ctx.clock.now())

    def tx(store: Store) -> tuple[dict[str, Any], bool]:
        row = _get_task(store, task_id)
        changes = shape.to_columns(inp.values)
        merged = {**row, **changes}
        schedule_changed = any(
            merged.get(shape.COLUMNS[f]) != row.get(shape.COLUMNS[f])
            for f in shape.SCHEDULE_FIELDS
        )
        if schedule_changed:
            merged["anchor_at"] = changes["anchor_at"] = iso(now)
        shape.check_consistency(merged)
        if schedule_changed or merged["status"] != row["status"]:
            changes["next_run_at"] = merged["next_run_at"] = shape.compute_next_run(merged, now)
        if inp.skill_ids is not None:
            fetch_all(store, "skills", inp.skill_ids, "skillIds")
            store.set_links("skills", task_id, inp.skill_ids)
        if inp.source_ids is not None:
            fetch_all(store, "sources", inp.source_ids, "sourceIds")
            store.set_links("sources", task_id, inp.source_ids)
        changes["updated_at"] = merged["updated_at"] = iso(now)
        store.update("tasks", task_id, changes)
        return _expand(ctx, store, [merged])[0], "next_run_at" in changes

    task, rescheduled = await ctx.store.write(tx)
    if rescheduled:  # otherwise the scheduler's own value (maybe newer) stands
        ctx.task_changed(task_id, task["nextRunAt"])
    return JSON(task)


async def delete_task(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")

    await ctx.store.write(lambda s: delete(s, "tasks", task_id, "taskId"))
    ctx.task_deleted(task_id)
    return JSON({"success": True})


def _link_routes(kind: str) -> tuple[Route, Route]:
    what = WHAT[kind]
    body_field = f"{what}Id"
    path_field = f"{what}Id"

    async def attach(request: Request) -> Response:
        ctx = ctx_of(request)
        task_id = path_id(request, "taskId", "task")
        body = c.expect_object(await json_body(request))
        c.reject_unknown(body, (body_field, "organizationId"), f"attaching a {what}")
        if body_field not in body:
            raise c.fail(body_field, f"{body_field} is required")
        item_id = c.uuid_str(body[body_field], body_field)

        def tx(store: Store) -> None:
            _get_task(store, task_id)
            fetch_all(store, kind, [item_id], body_field)
            if store.attach(kind, task_id, item_id):
                store.update("tasks", task_id, {"updated_at": iso(ctx.clock.now())})

        await ctx.store.write(tx)
        return no_content()

    async def detach(request: Request) -> Response:
        ctx = ctx_of(request)
        task_id = path_id(request, "taskId", "task")
        item_id = path_id(request, path_field, what)

        def tx(store: Store) -> None:
            _get_task(store, task_id)
            if not store.detach(kind, task_id, item_id):
                raise NotFound(f"{what} {item_id!r} is not attached to task {task_id!r}",
                               field=path_field)
            store.update("tasks", task_id, {"updated_at": iso(ctx.clock.now())})

        await ctx.store.write(tx)
        return no_content()

    return (
        Route(f"/api/promptly/tasks/{{taskId}}/{kind}", attach, methods=["POST"]),
        Route(f"/api/promptly/tasks/{{taskId}}/{kind}/{{{path_field}}}", detach,
              methods=["DELETE"]),
    )


async def run_task(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")
    await ctx.store.read(lambda s: _get_task(s, task_id))
    if ctx.runner is None:
        from promptlyd.errors import NotAvailable

        raise NotAvailable("this daemon was started without a runner")
    run = await ctx.runner.run_now(task_id)
    return JSON(run_to_api(run), status_code=201)


async def task_runs(request: Request) -> Response:
    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")
    limit = query_limit(request)

    def read(store: Store) -> list[dict[str, Any]]:
        _get_task(store, task_id)
        return [run_to_api(r) for r in store.list_runs(task_id=task_id, limit=limit)]

    return JSON(await ctx.store.read(read))


async def preview(request: Request) -> Response:
    """The next ``n`` fire instants (UTC and the task's local time): check before trusting."""
    from zoneinfo import ZoneInfo

    from promptlyd.scheduling.triggers import describe, upcoming

    ctx = ctx_of(request)
    task_id = path_id(request, "taskId", "task")
    n = query_int(request, "n", default=DEFAULT_PREVIEW, maximum=MAX_PREVIEW)
    row = await ctx.store.read(lambda s: _get_task(s, task_id))
    spec = shape.spec_of(row)
    zone = ZoneInfo(row["timezone"])
    start = ctx.clock.now()
    if row["status"] != "active":
        times = []
    else:
        nxt = row.get("next_run_at")
        first = [parse_iso(nxt)] if nxt else []
        after = first[0] if first else start
        times = first + upcoming(spec, after, n - len(first))
    return JSON({
        "taskId": task_id, "status": row["status"], "timezone": row["timezone"],
        "description": describe(spec),
        "fireTimes": [{"at": iso(t), "local": t.astimezone(zone).isoformat()}
                      for t in times[:n]],
    })


routes = [
    Route("/api/promptly/tasks", list_tasks, methods=["GET"]),
    Route("/api/promptly/tasks", create_task, methods=["POST"]),
    Route("/api/promptly/tasks/{taskId}", get_task, methods=["GET"]),
    Route("/api/promptly/tasks/{taskId}", update_task, methods=["PATCH"]),
    Route("/api/promptly/tasks/{taskId}", delete_task, methods=["DELETE"]),
    Route("/api/promptly/tasks/{taskId}/run", run_task, methods=["POST"]),
    Route("/api/promptly/tasks/{taskId}/runs", task_runs, methods=["GET"]),
    Route("/api/promptly/tasks/{taskId}/next", preview, methods=["GET"]),
    *_link_routes("skills"),
    *_link_routes("sources"),
]
