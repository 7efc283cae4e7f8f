"""The pages' way to the API: the API's own Starlette app, called in process.

Every page that reads or changes something goes through the same handlers as
the socket, so a validation error on a form is the API's message, naming the
API's field. Answers are values, not exceptions: a page decides what to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> dict[str, Any]:
        """``{type, message, field?}`` of a failed call (empty when it succeeded)."""
        if self.ok or not isinstance(self.data, dict):
            return {}
        err = self.data.get("error")
        return err if isinstance(err, dict) else {}

    @property
    def message(self) -> str:
        return str(self.error.get("message", f"HTTP {self.status}"))

    @property
    def field(self) -> str | None:
        value = self.error.get("field")
        return str(value) if value is not None else None


class InProcessApi:
    """``await api.call("POST", "/tasks", json=…)``: paths are relative to /api/promptly."""

    PREFIX = "/api/promptly"

    def __init__(self, api_app: Any) -> None:
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app),
                                         base_url="http://promptlyd.local")

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None) -> Answer:
        response = await self._client.request(method, self.PREFIX + path, json=json,
                                              params=params)
        data = response.json() if response.content else None
        return Answer(response.status_code, data)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, params=params or None)

    async def aclose(self) -> None:
        await self._client.aclose()
