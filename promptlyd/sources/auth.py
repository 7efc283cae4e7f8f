"""Credentials for http/websocket MCP servers and API sources (``authType``).

Pure: given the source's ``authType``, ``authConfig`` and the secret's value, the
headers and query parameters to send. The secret itself is looked up by
``authConfig.secretName`` at connect time (``resolve``) and never stored.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptlyd.shapes.sources import UNSUPPORTED_AUTH
from promptlyd.sources.base import Protect, SecretLookup, SourceError

DEFAULT_API_KEY_HEADER = "X-API-Key"
DEFAULT_QUERY_PARAM = "api_key"


@dataclass(frozen=True)
class Credentials:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    @property
    def values(self) -> list[str]:
        return [*self.headers.values(), *self.query.values()]


def _prefixed(prefix: str | None, secret: str) -> str:
    if not prefix:
        return secret
    return prefix + secret if prefix.endswith((" ", "=", ":")) else f"{prefix} {secret}"


def credentials(auth_type: str | None, auth_config: Mapping[str, Any] | None,
                secret: str | None) -> Credentials:
    """What to send for ``auth_type``; ``secret`` is the looked-up value (None: none)."""
    kind = auth_type or "none"
    cfg = auth_config or {}
    if kind == "none":
        return Credentials()
    if kind in UNSUPPORTED_AUTH:
        raise SourceError(UNSUPPORTED_AUTH[kind], field="authType")
    if secret is None:
        raise SourceError(f"authType {kind!r} needs a secret: set authConfig.secretName and "
                          "store it with `promptly secrets set NAME`", field="authConfig")
    if kind == "bearer":
        return Credentials(headers={"Authorization": f"Bearer {secret}"})
    if kind == "basic":
        username = cfg.get("username")
        pair = f"{username}:{secret}" if username else secret
        if ":" not in pair:
            raise SourceError("authType 'basic' needs authConfig.username, or a secret of the "
                              "form user:password", field="authConfig.username")
        token = base64.b64encode(pair.encode()).decode()
        return Credentials(headers={"Authorization": f"Basic {token}"})
    if kind == "header":
        name = cfg.get("headerName")
        if not name:
            raise SourceError("authType 'header' needs authConfig.headerName (e.g. "
                              "'X-Auth-Token')", field="authConfig.headerName")
        return Credentials(headers={name: _prefixed(cfg.get("prefix"), secret)})
    if kind == "api_key":
        name = cfg.get("headerName") or DEFAULT_API_KEY_HEADER
        return Credentials(headers={name: _prefixed(cfg.get("prefix"), secret)})
    if kind == "query":
        return Credentials(query={cfg.get("paramName") or DEFAULT_QUERY_PARAM: secret})
    raise SourceError(f"unknown authType {kind!r}", field="authType")


async def resolve(row: Mapping[str, Any], secrets: SecretLookup,
                  protect: Protect | None = None) -> Credentials:
    """The credentials of a stored source, its secret looked up now; each value sent
    (``Basic`` base64 included) is given to ``protect`` (the redactor) first."""
    kind = row.get("auth_type") or "none"
    cfg = row.get("auth_config") or {}
    secret: str | None = None
    if kind != "none" and kind not in UNSUPPORTED_AUTH:
        name = cfg.get("secretName")
        if not name:
            raise SourceError(f"authType {kind!r} needs authConfig.secretName: the name of the "
                              "secret holding the credential (`promptly secrets set NAME`)",
                              field="authConfig.secretName")
        secret = await secrets(name)
        if secret is None:
            raise SourceError(f"no secret named {name!r} for this source's {kind} auth: run "
                              f"`promptly secrets set {name}`", field="authConfig.secretName")
    creds = credentials(kind, cfg, secret)
    if protect is not None:
        for value in creds.values:
            protect(value)
            protect(value.split(" ", 1)[-1])  # the token without its scheme ("Basic …")
    return creds
