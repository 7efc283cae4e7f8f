"""``promptly sources import FILE``: an ``mcpServers`` JSON as sources. Pure.

Reads what Claude Desktop (``claude_desktop_config.json``: ``command``, ``args``,
``env``) and Claude Code (``.mcp.json``: ``type: "stdio" | "http"``, ``url``,
``headers``) write. ``${VAR}`` and ``${VAR:-default}`` are expanded in ``command``,
``args``, ``env``, ``url`` and ``headers`` as Claude Code does; an unset variable
without a default is an error naming it. Credentials never go into a source: a
header becomes the source's auth with its value kept as a secret, and so does an
``env`` value whose name looks like a credential (``…TOKEN``, ``…API_KEY``, …).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptlyd.errors import ValidationError
from promptlyd.shapes.sources import _SECRET_ENV
from promptlyd.slugs import slugify

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
TRANSPORTS = {"stdio": "stdio", "http": "http", "streamable-http": "http",
              "streamable_http": "http", "ws": "websocket", "websocket": "websocket"}


class SourceImportError(ValidationError):
    """The file cannot be imported as it is; the message names the server and field."""


@dataclass
class PlannedSource:
    name: str
    body: dict[str, Any]  # what POST /sources gets
    secrets: dict[str, str] = field(default_factory=dict)  # secret name → value, to store


def expand(text: str, env: Mapping[str, str], where: str) -> str:
    """``${VAR}`` / ``${VAR:-default}`` from ``env``; unset without default → error."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise SourceImportError(f"{where}: environment variable {name} is not set (and "
                                   f"has no default: write ${{{name}:-value}} to give one)")
            return default
        return value

    return _VAR.sub(one, text)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SourceImportError(f"{where} must be a string")
    return value


def _secret_name(slug: str, part: str) -> str:
    return f"mcp-{slug}-{re.sub(r'[^a-z0-9]+', '-', part.lower()).strip('-')}"[:128]


def _header_auth(slug: str, headers: Mapping[str, str], where: str
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    if not headers:
        return {}, {}
    if len(headers) > 1:
        raise SourceImportError(f"{where}.headers: a source carries one credential header; "
                           f"this server has {len(headers)} ({', '.join(headers)})")
    [(name, value)] = headers.items()
    secret = _secret_name(slug, "token")
    if name.lower() == "authorization" and value.lower().startswith("bearer "):
        token = value[len("bearer "):].strip()
        return {"authType": "bearer", "authConfig": {"secretName": secret}}, {secret: token}
    prefix, _, rest = value.partition(" ")
    if name.lower() == "authorization" and rest:
        return ({"authType": "header", "authConfig": {"headerName": name, "prefix": prefix,
                                                      "secretName": secret}},
                {secret: rest.strip()})
    return ({"authType": "header", "authConfig": {"headerName": name, "secretName": secret}},
            {secret: value})


def plan_import(document: Any, env: Mapping[str, str], taken: set[str] | None = None
                ) -> list[PlannedSource]:
    """One ``PlannedSource`` per server of an ``mcpServers`` document."""
    if not isinstance(document, Mapping) or not isinstance(document.get("mcpServers"), Mapping):
        raise SourceImportError("the file has no \"mcpServers\" object (the format of "
                           "claude_desktop_config.json and .mcp.json)")
    slugs = set(taken or ())
    planned = []
    for name, server in document["mcpServers"].items():
        where = f"mcpServers.{name}"
        if not isinstance(server, Mapping):
            raise SourceImportError(f"{where} must be an object")
        slug = slugify(name) or "mcp"
        base, n = slug, 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.add(slug)
        kind = server.get("type") or ("http" if "url" in server else "stdio")
        transport = TRANSPORTS.get(str(kind))
        if transport is None:
            raise SourceImportError(f"{where}.type {kind!r} is not supported (stdio, http, "
                               "websocket); SSE servers usually also serve streamable HTTP")
        config: dict[str, Any] = {"transport": transport}
        body: dict[str, Any] = {"name": name, "slug": slug, "type": "mcp", "config": config}
        secrets: dict[str, str] = {}
        if transport == "stdio":
            config["command"] = expand(_string(server.get("command"), f"{where}.command"),
                                       env, f"{where}.command")
            args = server.get("args") or []
            if not isinstance(args, list):
                raise SourceImportError(f"{where}.args must be a list of strings")
            config["args"] = [expand(_string(a, f"{where}.args"), env, f"{where}.args")
                              for a in args]
            child_env: dict[str, Any] = {}
            for key, value in (server.get("env") or {}).items():
                text = expand(_string(value, f"{where}.env.{key}"), env, f"{where}.env.{key}")
                if text and _SECRET_ENV.search(key):
                    secret = _secret_name(slug, key)
                    secrets[secret] = text
                    child_env[key] = {"secretName": secret}
                else:
                    child_env[key] = text
            if child_env:
                config["env"] = child_env
        else:
            config["url"] = expand(_string(server.get("url"), f"{where}.url"), env,
                                   f"{where}.url")
            headers = server.get("headers") or {}
            if not isinstance(headers, Mapping):
                raise SourceImportError(f"{where}.headers must be an object")
            expanded = {str(k): expand(_string(v, f"{where}.headers.{k}"), env,
                                       f"{where}.headers.{k}") for k, v in headers.items()}
            auth, header_secrets = _header_auth(slug, expanded, where)
            body.update(auth)
            secrets.update(header_secrets)
        planned.append(PlannedSource(name=name, body=body, secrets=secrets))
    return planned
