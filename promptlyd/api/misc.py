"""Runs, stats, models, billing, health: the read-mostly endpoints."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd import __version__
from promptlyd.api.http import (
    JSON,
    check_org_query,
    ctx_of,
    fetch,
    json_body,
    path_id,
    query_limit,
)
from promptlyd.errors import NotAvailable, NotFound
from promptlyd.shapes import common as c
from promptlyd.shapes.runs import run_to_api
from promptlyd.store.db import Store
from promptlyd.timeutil import iso, month_start


async def list_runs(request: Request) -> Response:
    ctx = ctx_of(request)
    check_org_query(request)
    limit = query_limit(request)
    rows = await ctx.store.read(lambda s: s.list_runs(limit=limit))
    return JSON([run_to_api(r) for r in rows])


async def get_run(request: Request) -> Response:
    ctx = ctx_of(request)
    run_id = path_id(request, "runId", "run")
    row = await ctx.store.read(lambda s: fetch(s, "runs", run_id, "runId"))
    return JSON(run_to_api(row))


async def redeliver_run(request: Request) -> Response:
    """Queue every destination of a finished run again (SPEC §9)."""
    ctx = ctx_of(request)
    run_id = path_id(request, "runId", "run")
    if ctx.deliveries is None:
        raise NotAvailable("this daemon was started without its delivery worker")
    return JSON(await ctx.deliveries.redeliver(run_id))


async def stats(request: Request) -> Response:
    ctx = ctx_of(request)
    check_org_query(request)
    return JSON(await ctx.store.read(Store.stats))


async def list_models(request: Request) -> Response:
    ctx = ctx_of(request)
    if ctx.models_lister is not None:
        return JSON(await ctx.models_lister())
    return JSON([m.to_api() for m in ctx.catalog.all()])


async def get_model(request: Request) -> Response:
    ctx = ctx_of(request)
    model_id = str(request.path_params["modelId"])  # already percent-decoded
    if ctx.models_lister is not None:
        for model in await ctx.models_lister():
            if model.get("id") == model_id:
                return JSON(model)
    resolved = ctx.catalog.resolve_id(model_id)
    info = ctx.catalog.get(resolved) if resolved else None
    if info is None:
        raise NotFound.no_such("model", model_id, field="modelId",
                               hint="; list them with GET /api/promptly/models")
    return JSON(info.to_api())


async def billing_status(request: Request) -> Response:
    ctx = ctx_of(request)
    check_org_query(request)
    start = month_start(ctx.clock.now(), ctx.config.timezone)
    budget = ctx.config.budget

    def read(store: Store) -> dict[str, Any]:
        runs, cost = store.usage_since(iso(start))
        # every task the user has (a completed ``once`` is still one of theirs)
        return {"runsUsed": runs, "usageCostCents": cost, "tasksCount": store.task_count()}

    usage = await ctx.store.read(read)
    body = c.omit_none({
        "billingPeriodStart": iso(start),
        "plan": "free",
        "runsLimit": budget.runs_limit,
        **usage,
        "monthlyBudgetCents": budget.monthly_budget_cents,
        "usersCount": 1,
        "usersLimit": 1,
    }, keep=("runsLimit",))
    return JSON(body)


async def billing_unavailable(request: Request) -> Response:
    body = c.expect_object(await json_body(request, optional=True))
    if body.get("organizationId") is not None:
        c.uuid_str(body["organizationId"], "organizationId")
    raise NotAvailable(
        "billing is not available in local mode: promptlyd is free to run. To cap spending, "
        "set [budget] runs_limit / monthly_budget_cents in the config"
    )


async def dashboard_login(request: Request) -> Response:
    """A one-time login link for the dashboard. Served on the socket only: the web
    listener answers 404 here, so only the daemon's own user can ask for one."""
    ctx = ctx_of(request)
    if ctx.dashboard is None:
        raise NotAvailable('the dashboard is off: set [web] listen = "127.0.0.1:8787" in the '
                           "config and restart promptlyd")
    return JSON(await ctx.dashboard.login_link(), status_code=201)


async def health(request: Request) -> Response:
    ctx = ctx_of(request)
    now = ctx.clock.now()
    return JSON({
        "status": "ok",
        "version": __version__,
        "pid": os.getpid(),
        "startedAt": iso(ctx.started_at),
        "uptimeSeconds": round((now - ctx.started_at).total_seconds(), 3),
        "organizationId": ctx.organization_id,
        "timezone": ctx.config.timezone,
        "database": str(ctx.config.database),
        "counters": {"dbReads": ctx.store.reads, "dbWrites": ctx.store.writes,
                     **({k: v() for k, v in ctx.counters.items()})},
    })


routes = [
    Route("/api/promptly/runs", list_runs, methods=["GET"]),
    Route("/api/promptly/runs/{runId}", get_run, methods=["GET"]),
    Route("/api/promptly/runs/{runId}/redeliver", redeliver_run, methods=["POST"]),
    Route("/api/promptly/stats", stats, methods=["GET"]),
    Route("/api/promptly/models", list_models, methods=["GET"]),
    Route("/api/promptly/models/{modelId:path}", get_model, methods=["GET"]),
    Route("/api/promptly/billing/status", billing_status, methods=["GET"]),
    Route("/api/promptly/billing/checkout", billing_unavailable, methods=["POST"]),
    Route("/api/promptly/billing/portal", billing_unavailable, methods=["POST"]),
    Route("/api/promptly/health", health, methods=["GET"]),
    Route("/api/promptly/dashboard/login", dashboard_login, methods=["POST"]),
]
