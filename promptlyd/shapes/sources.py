"""Source input (per-type config checks) and the Source response shape."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from promptlyd.shapes import common as c
from promptlyd.shapes import fields as f

TYPES = ("mcp", "api", "local")
TRANSPORTS = ("stdio", "http", "websocket")
AUTH_TYPES = ("none", "oauth", "bearer", "basic", "header", "query", "api_key", "composio")
UNSUPPORTED_AUTH = {
    "oauth": "authType 'oauth' is not supported by promptlyd yet; use a bearer token kept "
             "in the keyring (authType 'bearer' with authConfig.secretName)",
    "composio": "authType 'composio' needs the hosted Composio service and is not supported "
                "locally; connect the tool's own MCP server or API instead",
}
CONFIG_FIELDS = {"args", "baseUrl", "command", "env", "transport", "url", "paths", "cwd"}
AUTH_CONFIG_FIELDS = {"headerName", "prefix", "provider", "secretName", "username",
                      "paramName"}
SECRET_LOOKING = {"token", "password", "apiKey", "api_key", "secret", "value", "key"}
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY)$",
                         re.IGNORECASE)


def _auth_type(spec: f.FieldSpec, value: Any, sent: str) -> str:
    kind = c.enum(value, sent, spec.enum)
    if kind in UNSUPPORTED_AUTH:
        raise c.fail(sent, UNSUPPORTED_AUTH[kind])
    return kind


AUTH_TYPE = f.Kind("authType", _auth_type, f.ENUM.schema)
AUTH_CONFIG = f.Kind("authConfig", lambda s, v, sent: parse_auth_config(v),
                     lambda s: {"$ref": "#/components/schemas/SourceAuthConfig"})
CONFIG = f.Kind("config", lambda s, v, sent: c.expect_object(v, "config", what="config"),
                lambda s: {"$ref": "#/components/schemas/SourceConfig"})

# One definition of each source field: the validator and the OpenAPI document read it.
SOURCE = f.Shape("a source", (
    f.FieldSpec("name", f.STRING, max_len=200, strip=True, required=True, column="name"),
    f.FieldSpec("type", f.ENUM, enum=TYPES, required=True, on_patch=False, column="type"),
    f.FieldSpec("config", CONFIG, required=True, column="config",
                description="What the type needs: command/args/env/url (mcp), baseUrl (api), "
                            "paths (local); checked for the type"),
    f.FieldSpec("authType", AUTH_TYPE, enum=AUTH_TYPES, null_is_absent=True,
                column="auth_type",
                description="oauth and composio are not supported locally"),
    f.FieldSpec("authConfig", AUTH_CONFIG, nullable=True, null_is_absent=True,
                column="auth_config"),
    f.FieldSpec("description", f.STRING, max_len=2000, allow_empty=True, nullable=True,
                column="description"),
    f.FieldSpec("iconUrl", f.URL, nullable=True, column="icon_url"),
    f.FieldSpec("slug", f.SLUG, null_is_absent=True, on_patch=False, column="slug"),
    f.FieldSpec("isActive", f.BOOLEAN, on_create=False, column="is_active"),
    f.FieldSpec("organizationId", f.UUID, null_is_absent=True),
))
COLUMNS = SOURCE.columns()


def parse_source_input(body: Any, *, creating: bool, current_type: str | None = None
                       ) -> dict[str, Any]:
    out = SOURCE.parse(body, creating=creating)
    source_type: str | None = out.get("type", current_type)
    if "config" in out and source_type is not None:
        out["config"] = parse_config(source_type, out["config"])
    return out


def parse_auth_config(value: Any) -> dict[str, Any]:
    auth = c.expect_object(value, "authConfig", what="authConfig")
    for key in auth:
        if key in SECRET_LOOKING:
            raise c.fail(f"authConfig.{key}",
                         f"authConfig.{key} looks like a secret; secrets never go into the "
                         "database. Store it with `promptly secrets set NAME` and pass "
                         "authConfig.secretName = NAME")
    c.reject_unknown(auth, AUTH_CONFIG_FIELDS, "authConfig")
    return {k: c.string(v, f"authConfig.{k}", max_len=500) for k, v in auth.items()
            if v is not None}


def parse_config(kind: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Check the fields a source of ``kind`` needs; unknown keys are refused."""
    c.reject_unknown(value, CONFIG_FIELDS, "a source config")
    cfg: dict[str, Any] = {}
    if "args" in value:
        cfg["args"] = c.string_list(value["args"], "config.args")
    if "env" in value:
        env = c.expect_object(value["env"], "config.env", what="config.env")
        for k, v in env.items():
            where = f"config.env.{k}"
            if isinstance(v, dict):  # a reference to a secret, resolved when the server starts
                c.reject_unknown(v, ("secretName",), where)
                c.string(v.get("secretName"), f"{where}.secretName", max_len=128)
                continue
            c.string(v, where, allow_empty=True)
            if v and _SECRET_ENV.search(k):
                raise c.fail(where, f"{where} looks like a secret, and secrets never go into "
                                    "the database: store it with `promptly secrets set NAME` "
                                    f"and write {{\"{k}\": {{\"secretName\": \"NAME\"}}}}")
        cfg["env"] = dict(env)
    for key in ("command", "cwd"):
        if key in value:
            cfg[key] = c.string(value[key], f"config.{key}", max_len=4096)
    if "transport" in value:
        cfg["transport"] = c.enum(value["transport"], "config.transport", TRANSPORTS)
    if "url" in value:
        schemes = ("ws", "wss") if cfg.get("transport") == "websocket" else ("http", "https")
        cfg["url"] = c.url(value["url"], "config.url", schemes=schemes)
    if "baseUrl" in value:
        cfg["baseUrl"] = c.url(value["baseUrl"], "config.baseUrl")
    if "paths" in value:
        paths = c.string_list(value["paths"], "config.paths", max_items=100)
        for p in paths:
            if not os.path.isabs(os.path.expanduser(p)):
                raise c.fail("config.paths", f"config.paths must be absolute folders, got {p!r}")
        cfg["paths"] = paths
    if kind == "mcp" and "transport" not in cfg and ("url" in cfg or "command" in cfg):
        cfg["transport"] = "http" if "url" in cfg else "stdio"
    return cfg


def config_problem(kind: str, cfg: Mapping[str, Any]) -> str | None:
    """What a source still lacks before it can connect (None when complete).

    Creation accepts an incomplete config (the seeds create ``{"config": {}}``);
    ``POST …/test`` and runs report this instead.
    """
    if kind == "mcp":
        transport = cfg.get("transport") or ("http" if "url" in cfg else "stdio")
        if transport == "stdio" and not cfg.get("command"):
            return ("an MCP source over stdio needs config.command (the program that starts "
                    "the server), e.g. {\"command\": \"uvx\", \"args\": [\"mcp-server-time\"]}")
        if transport in ("http", "websocket") and not cfg.get("url"):
            return f"an MCP source over {transport} needs config.url"
    elif kind == "api" and not cfg.get("baseUrl"):
        return "an api source needs config.baseUrl, e.g. https://api.example.com/v1"
    elif kind == "local" and not cfg.get("paths"):
        return ("a local source needs config.paths: the folders the model may read, "
                "e.g. [\"/home/me/notes\"]")
    return None


def to_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    return {COLUMNS[k]: v for k, v in values.items() if k in COLUMNS}


def source_to_api(row: Mapping[str, Any], *, organization_id: str) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "config": row["config"],
        "name": row["name"],
        "type": row["type"],
        "authConfig": row.get("auth_config"),
        "authType": row.get("auth_type"),
        "composioConnected": row.get("composio_connected"),
        "composioToolkit": row.get("composio_toolkit"),
        "createdAt": row["created_at"],
        "description": row.get("description"),
        "iconUrl": row.get("icon_url"),
        "isActive": row.get("is_active"),
        "lastConnectedAt": row.get("last_connected_at"),
        "organizationId": organization_id,
        "slug": row["slug"],
        "tools": row.get("tools"),
        "updatedAt": row["updated_at"],
    }
    return c.omit_none(out)
