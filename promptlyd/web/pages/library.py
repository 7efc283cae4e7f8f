"""Skills (``/skills``: list with problems, edit Markdown and front matter — the API
writes the file) and sources (``/sources``: list, add, test)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.web.forms import form_field
from promptlyd.web.pages.common import failed, first, form_of, page, redirect, web_of

SOURCE_TYPES = ("mcp", "api", "local")
AUTH_TYPES = ("none", "bearer", "basic", "header", "api_key", "query")


# --- skills -------------------------------------------------------------------------

async def list_skills(request: Request) -> Response:
    answer = await web_of(request).api.get("/skills")
    if not answer.ok:
        return failed(request, answer)
    return page(request, "skills.html", title="Skills", skills=answer.data)


def _skill_values(skill: dict[str, Any]) -> dict[str, str]:
    fm = skill.get("frontmatter") or {}
    return {"name": skill.get("name", ""), "description": skill.get("description") or "",
            "category": skill.get("category") or "", "content": skill.get("content", ""),
            "tags": ", ".join(fm.get("tags") or []), "author": fm.get("author") or ""}


def _skill_body(values: dict[str, str], current: dict[str, Any] | None) -> dict[str, Any]:
    fm = dict((current or {}).get("frontmatter") or {})
    tags = [t.strip() for t in values["tags"].split(",") if t.strip()]
    fm["tags"] = tags or None
    fm["author"] = values["author"].strip() or None
    body: dict[str, Any] = {
        "name": values["name"], "content": values["content"],
        "description": values["description"] or None, "category": values["category"] or None,
        "frontmatter": {k: v for k, v in fm.items() if v is not None},
    }
    if current is None:
        body = {k: v for k, v in body.items() if v is not None}
    return body


async def skill_form(request: Request) -> Response:
    skill_id = request.path_params.get("skillId")
    skill = None
    if skill_id is not None:
        answer = await web_of(request).api.get(f"/skills/{skill_id}")
        if not answer.ok:
            return failed(request, answer, "No such skill")
        skill = answer.data
    values = _skill_values(skill or {})
    return page(request, "skill_form.html", title=f"Edit {skill['name']}" if skill else
                "New skill", skill=skill, values=values, error={},
                saved=request.query_params.get("saved") == "1")


async def save_skill(request: Request) -> Response:
    api = web_of(request).api
    skill_id = request.path_params.get("skillId")
    form = await form_of(request)
    values = {k: first(form, k) for k in ("name", "description", "category", "content",
                                          "tags", "author")}
    skill = None
    if skill_id is None:
        answer = await api.call("POST", "/skills", json=_skill_body(values, None))
    else:
        current = await api.get(f"/skills/{skill_id}")
        if not current.ok:
            return failed(request, current, "No such skill")
        skill = current.data
        answer = await api.call("PATCH", f"/skills/{skill_id}",
                                json=_skill_body(values, skill))
    if answer.ok:
        return redirect(f"/skills/{answer.data['id']}?saved=1")
    field = form_field(answer.field)
    if field == "frontmatter" and answer.field:
        field = answer.field.rsplit(".", 1)[-1]  # frontmatter.tags → tags
    return page(request, "skill_form.html", status=answer.status,
                title=f"Edit {skill['name']}" if skill else "New skill", skill=skill,
                values=values, error={"field": field, "message": answer.message}, saved=False)


# --- sources ------------------------------------------------------------------------

async def list_sources(request: Request) -> Response:
    answer = await web_of(request).api.get("/sources")
    if not answer.ok:
        return failed(request, answer)
    return page(request, "sources.html", title="Sources", sources=answer.data,
                values={"name": "", "type": "mcp", "config": "{}", "authType": "none",
                        "authConfig": ""}, error={}, types=SOURCE_TYPES, auth_types=AUTH_TYPES)


def _json_field(text: str, name: str) -> tuple[Any, dict[str, str | None] | None]:
    if not text.strip():
        return None, None
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, {"field": name, "message": f"{name} is not valid JSON: {exc}"}


async def add_source(request: Request) -> Response:
    api = web_of(request).api
    form = await form_of(request)
    values = {k: first(form, k) for k in ("name", "type", "config", "authType", "authConfig")}
    config, error = _json_field(values["config"], "config")
    auth_config, auth_error = _json_field(values["authConfig"], "authConfig")
    error = error or auth_error
    if error is None:
        body: dict[str, Any] = {"name": values["name"], "type": values["type"],
                                "config": config if config is not None else {}}
        if values["authType"] and values["authType"] != "none":
            body["authType"] = values["authType"]
        if auth_config is not None:
            body["authConfig"] = auth_config
        answer = await api.call("POST", "/sources", json=body)
        if answer.ok:
            return redirect(f"/sources/{answer.data['id']}")
        error = {"field": form_field(answer.field), "message": answer.message}
    sources = await api.get("/sources")
    return page(request, "sources.html", status=400, title="Sources",
                sources=sources.data if sources.ok else [], values=values, error=error,
                types=SOURCE_TYPES, auth_types=AUTH_TYPES)


async def show_source(request: Request, result: dict[str, Any] | None = None) -> Response:
    answer = await web_of(request).api.get(f"/sources/{request.path_params['sourceId']}")
    if not answer.ok:
        return failed(request, answer, "No such source")
    return page(request, "source.html", title=answer.data["name"], source=answer.data,
                result=result)


async def test_source(request: Request) -> Response:
    source_id = request.path_params["sourceId"]
    answer = await web_of(request).api.call("POST", f"/sources/{source_id}/test")
    if not answer.ok:
        return failed(request, answer, "Cannot test this source")
    return await show_source(request, result=answer.data)


async def delete_source(request: Request) -> Response:
    source_id = request.path_params["sourceId"]
    answer = await web_of(request).api.call("DELETE", f"/sources/{source_id}")
    return redirect("/sources") if answer.ok else failed(request, answer)


routes = [
    Route("/skills", list_skills, methods=["GET"]),
    Route("/skills/new", skill_form, methods=["GET"]),
    Route("/skills/new", save_skill, methods=["POST"]),
    Route("/skills/{skillId}", skill_form, methods=["GET"]),
    Route("/skills/{skillId}", save_skill, methods=["POST"]),
    Route("/sources", list_sources, methods=["GET"]),
    Route("/sources", add_source, methods=["POST"]),
    Route("/sources/{sourceId}", show_source, methods=["GET"]),
    Route("/sources/{sourceId}/test", test_source, methods=["POST"]),
    Route("/sources/{sourceId}/delete", delete_source, methods=["POST"]),
]
