"""Runs (``/runs``, filtered by task and status) and a run's page (``/runs/{id}``).

A run still going updates itself: its live part is re-fetched every second
(htmx polling, or a ``<noscript>`` refresh) until the run has finished, then the
fragment comes back without the trigger and the polling stops.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.runs.states import RunStatus
from promptlyd.web.pages.common import failed, page, web_of

RUNS_SHOWN = 200
FINISHED = frozenset({RunStatus.COMPLETED.value, RunStatus.FAILED.value})


async def list_runs(request: Request) -> Response:
    api = web_of(request).api
    task_id = request.query_params.get("task") or ""
    status = request.query_params.get("status") or ""
    tasks = await api.get("/tasks")
    names = {t["id"]: t["name"] for t in tasks.data} if tasks.ok else {}
    if task_id:
        answer = await api.get(f"/tasks/{task_id}/runs", limit=RUNS_SHOWN)
    else:
        answer = await api.get("/runs", limit=RUNS_SHOWN)
    if not answer.ok:
        return failed(request, answer, "Cannot list these runs")
    runs = [r for r in answer.data if not status or r["status"] == status]
    return page(request, "runs.html", title="Runs", runs=runs, names=names, task_id=task_id,
                status_filter=status, statuses=[s.value for s in RunStatus])


async def _run_values(request: Request) -> dict[str, Any] | Response:
    api = web_of(request).api
    answer = await api.get(f"/runs/{request.path_params['runId']}")
    if not answer.ok:
        return failed(request, answer, "No such run")
    run = answer.data
    task = await api.get(f"/tasks/{run['taskId']}")
    return {"run": run, "task": task.data if task.ok else None,
            "live": run["status"] not in FINISHED}


async def show_run(request: Request) -> Response:
    values = await _run_values(request)
    if isinstance(values, Response):
        return values
    return page(request, "run.html", title=f"Run {values['run']['id'][:8]}", **values)


async def run_live(request: Request) -> Response:
    """The run's changing part alone (what the page polls)."""
    values = await _run_values(request)
    if isinstance(values, Response):
        return values
    return page(request, "_run_body.html", **values)


routes = [
    Route("/runs", list_runs, methods=["GET"]),
    Route("/runs/{runId}", show_run, methods=["GET"]),
    Route("/runs/{runId}/live", run_live, methods=["GET"]),
]
