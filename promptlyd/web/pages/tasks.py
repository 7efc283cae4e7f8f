"""Tasks (``/``), the task form (``/tasks/new``, ``/tasks/{id}``) and its live preview."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.errors import ValidationError
from promptlyd.scheduling.triggers import SCHEDULES, WEEKDAYS
from promptlyd.web import forms
from promptlyd.web.pages.common import failed, first, form_of, many, page, redirect, web_of
from promptlyd.web.preview import fire_times
from promptlyd.web.words import schedule_words

PREVIEW_COUNT = 10


async def list_tasks(request: Request) -> Response:
    api = web_of(request).api
    answer = await api.get("/tasks")
    if not answer.ok:
        return failed(request, answer)
    rows = []
    for task in answer.data:
        last = await api.get(f"/tasks/{task['id']}/runs", limit=1)
        rows.append({"task": task, "words": schedule_words(task),
                     "last": last.data[0] if last.ok and last.data else None})
    return page(request, "tasks.html", title="Tasks", rows=rows)


async def pause(request: Request) -> Response:
    return await _set_status(request, "paused")


async def resume(request: Request) -> Response:
    return await _set_status(request, "active")


async def _set_status(request: Request, status: str) -> Response:
    task_id = request.path_params["taskId"]
    answer = await web_of(request).api.call("PATCH", f"/tasks/{task_id}",
                                            json={"status": status})
    return redirect("/") if answer.ok else failed(request, answer)


async def run_now(request: Request) -> Response:
    task_id = request.path_params["taskId"]
    answer = await web_of(request).api.call("POST", f"/tasks/{task_id}/run")
    if not answer.ok:
        return failed(request, answer, "Could not start the run")
    return redirect(f"/runs/{answer.data['id']}")


async def delete_task(request: Request) -> Response:
    task_id = request.path_params["taskId"]
    answer = await web_of(request).api.call("DELETE", f"/tasks/{task_id}")
    return redirect("/") if answer.ok else failed(request, answer)


async def _choices(request: Request) -> dict[str, Any]:
    api = web_of(request).api
    models = await api.get("/models")
    skills = await api.get("/skills")
    sources = await api.get("/sources")
    return {"models": models.data if models.ok else [],
            "skills": skills.data if skills.ok else [],
            "sources": sources.data if sources.ok else [],
            "weekdays": WEEKDAYS,
            "schedules": SCHEDULES}


async def _form(request: Request, *, task: dict[str, Any] | None, values: dict[str, Any],
                error: dict[str, Any] | None = None, preview: dict[str, Any] | None = None,
                status: int = 200) -> Response:
    if preview is None:
        preview = await _preview_for(request, task, values)
    return page(request, "task_form.html", status=status,
                title=f"Edit {task['name']}" if task else "New task", task=task, values=values,
                error=error or {}, preview=preview, **await _choices(request))


async def new_form(request: Request) -> Response:
    values = forms.task_values({"schedule": "daily", "scheduleTime": "09:00",
                                "timezone": web_of(request).ctx.config.timezone,
                                "model": web_of(request).ctx.config.default_model})
    return await _form(request, task=None, values=values)


async def edit_form(request: Request) -> Response:
    answer = await web_of(request).api.get(f"/tasks/{request.path_params['taskId']}")
    if not answer.ok:
        return failed(request, answer, "No such task")
    return await _form(request, task=answer.data, values=forms.task_values(answer.data))


def _split(form: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    single = {k: first(form, k) for k in (*forms.TASK_TEXT, "destinations")}
    multi = {k: many(form, k) for k in ("scheduleDays", "skills", "sources")}
    return single, multi


async def save(request: Request) -> Response:
    web = web_of(request)
    task_id = request.path_params.get("taskId")
    single, multi = _split(await form_of(request))
    body = forms.task_body(single, multi, creating=task_id is None)
    task = None
    if task_id is None:
        answer = await web.api.call("POST", "/tasks", json=body)
    else:
        current = await web.api.get(f"/tasks/{task_id}")
        if not current.ok:
            return failed(request, current, "No such task")
        task = current.data
        answer = await web.api.call("PATCH", f"/tasks/{task_id}", json=body)
    if answer.ok:
        return redirect("/")
    error = {"field": forms.form_field(answer.field), "message": answer.message}
    return await _form(request, task=task, values=forms.posted_values(single, multi),
                       error=error, status=answer.status)


async def _preview_for(request: Request, task: dict[str, Any] | None,
                       values: dict[str, Any]) -> dict[str, Any]:
    """The next fire times: the task's own (``/next``) while its schedule is unchanged,
    else what the form's schedule would do (the same validation as the API)."""
    web = web_of(request)
    single = {k: str(v) for k, v in values.items() if isinstance(v, str | int)}
    multi = {k: v for k, v in values.items() if isinstance(v, list)}
    body = forms.task_body(single, multi, creating=True)
    if task is not None and all(body.get(k) == task.get(k) for k in forms.SCHEDULE_FORM):
        answer = await web.api.get(f"/tasks/{task['id']}/next", n=PREVIEW_COUNT)
        if answer.ok:
            return {"description": answer.data["description"],
                    "timezone": answer.data["timezone"],
                    "times": [(t["local"], t["at"]) for t in answer.data["fireTimes"]],
                    "status": answer.data["status"]}
    try:
        return fire_times(body, web.ctx, PREVIEW_COUNT)
    except ValidationError as exc:
        return {"error": {"field": forms.form_field(exc.field), "message": exc.message}}


async def preview(request: Request) -> Response:
    """The preview fragment (htmx, on every change), or the whole form without JS."""
    web = web_of(request)
    single, multi = _split(await form_of(request))
    values = forms.posted_values(single, multi)
    task_id = first(await form_of(request), "taskId")
    task = None
    if task_id:
        answer = await web.api.get(f"/tasks/{task_id}")
        task = answer.data if answer.ok else None
    result = await _preview_for(request, task, values)
    if request.headers.get("hx-request") == "true":
        return page(request, "_preview.html", preview=result)
    return await _form(request, task=task, values=values, preview=result)


routes = [
    Route("/", list_tasks, methods=["GET"]),
    Route("/tasks/new", new_form, methods=["GET"]),
    Route("/tasks/new", save, methods=["POST"]),
    Route("/tasks/preview", preview, methods=["POST"]),
    Route("/tasks/{taskId}", edit_form, methods=["GET"]),
    Route("/tasks/{taskId}", save, methods=["POST"]),
    Route("/tasks/{taskId}/run", run_now, methods=["POST"]),
    Route("/tasks/{taskId}/delete", delete_task, methods=["POST"]),
    Route("/tasks/{taskId}/pause", pause, methods=["POST"]),
    Route("/tasks/{taskId}/resume", resume, methods=["POST"]),
]
