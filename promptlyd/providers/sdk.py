"""What an SDK-backed provider needs (Anthropic's): every call under the provider's
timeout, and the SDK's exceptions mapped to ``ModelError`` at this boundary.
A new SDK-backed kind names its module and client class and inherits the rest."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from promptlyd.config import ProviderConfig
from promptlyd.providers.base import NO_KEY, ErrorContext, ModelError, get_field

T = TypeVar("T")


class SDKProvider:
    config: ProviderConfig
    _ctx: ErrorContext
    sdk_module: str  # "anthropic"; the openai SDK names its exceptions alike
    client_class: str  # "AsyncAnthropic" (AsyncOpenAI is built with the same arguments)
    _api_key: str | None
    _client: Any

    def _sdk(self) -> Any:
        """The SDK's async client, imported and built on first use."""
        if self._client is None:
            factory = getattr(importlib.import_module(self.sdk_module), self.client_class)
            self._client = factory(
                api_key=self._api_key or NO_KEY,
                base_url=self.config.base_url,
                timeout=self.config.timeout_seconds,
                max_retries=0,  # retry.py retries, the same way for every provider
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def _map_error(self, exc: Exception, model: str | None) -> ModelError | None:
        """SDK exception → ModelError; None for anything not recognised."""
        sdk = importlib.import_module(self.sdk_module)
        ctx = self._ctx
        if isinstance(exc, sdk.APIStatusError):
            return ctx.status_error(exc.status_code, exc.body, exc.response.headers, model)
        if isinstance(exc, sdk.APITimeoutError | TimeoutError):
            return ctx.timeout_error()
        if isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__
            return ctx.connection_error(str(cause) if cause else exc.message)
        if isinstance(exc, sdk.APIResponseValidationError):
            return ctx.bad_response(exc.message)
        if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
            return ctx.bad_response(f"not valid JSON: {exc}")
        return None

    def prepare(self) -> None:
        """Build the SDK client now (blocking: call it from a worker thread)."""
        self._sdk()

    async def _call(self, fn: Callable[[], Awaitable[T]], model: str | None) -> T:
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                return await fn()
        except Exception as exc:
            # anything the mapping does not know is still the server's answer gone wrong
            # (HTML where JSON was due, a list where an object was): a failed run, not a bug
            mapped = self._map_error(exc, model) or self._ctx.bad_response(
                f"{type(exc).__name__}: {exc}")
            raise mapped from exc

    async def list_models(self) -> list[str]:
        """The server's ``GET …/models``, every page."""
        client = self._sdk()

        async def collect() -> list[str]:
            names: list[str] = []
            async for model in client.models.list():
                model_id = get_field(model, "id")
                if isinstance(model_id, str):
                    names.append(model_id)
            return names

        return await self._call(collect, None)
