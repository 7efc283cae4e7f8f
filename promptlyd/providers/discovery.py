"""``GET /models``: the built-in catalog merged with what the servers say.

Every configured OpenAI-compatible provider that is local (Ollama, llama.cpp,
LM Studio) or added in config is asked ``GET /models`` (briefly: a server that
is down must not slow the API). Each model is marked ``available`` with an
``availabilityReason`` when it is not: no key for a remote provider, a local
server that does not answer, a model the server does not have. Answers are
cached for a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from promptlyd.config import DEFAULT_PROVIDERS, Config
from promptlyd.errors import PromptlydError
from promptlyd.providers.catalog import Catalog
from promptlyd.providers.registry import ProviderRegistry

log = logging.getLogger("promptlyd.discovery")

DISCOVERY_TIMEOUT = 1.5
CACHE_SECONDS = 10.0


class ModelDirectory:
    def __init__(self, config: Config, catalog: Catalog, providers: ProviderRegistry) -> None:
        self.config = config
        self.catalog = catalog
        self.providers = providers
        self._cache: tuple[float, list[dict[str, Any]]] | None = None
        self._lock = asyncio.Lock()

    async def apply(self, config: Config) -> None:
        """A reloaded config: the next listing asks the servers it now names."""
        self.config = config
        self._cache = None

    def _asked(self) -> list[str]:
        """Providers whose servers we ask: local ones, and any added in config."""
        return sorted(name for name, p in self.config.providers.items()
                      if p.kind == "openai" and (p.local or name not in DEFAULT_PROVIDERS))

    async def _served(self, name: str, timeout: float = DISCOVERY_TIMEOUT
                      ) -> tuple[list[str] | None, str | None]:
        """(model names, None) or (None, why the server could not be asked)."""
        base = self.config.providers[name].base_url
        try:
            provider = await asyncio.to_thread(self.providers.get, name)
            async with asyncio.timeout(timeout):
                return await provider.list_models(), None
        except TimeoutError:
            return None, f"{name} did not answer at {base} within {timeout:g} s"
        except PromptlydError as exc:
            return None, f"{name} is not reachable at {base}: {exc}"
        except Exception as exc:  # one odd server must not break /models for the others
            log.warning("listing the models of %s failed: %r", name, exc)
            return None, f"{name} answered GET /models with something unreadable ({exc})"

    async def _key_problem(self, name: str) -> str | None:
        try:
            await asyncio.to_thread(self.providers.api_key, name)
        except PromptlydError as exc:
            return str(exc)
        return None

    async def provider_problem(self, name: str, timeout: float = DISCOVERY_TIMEOUT
                               ) -> str | None:
        """Why ``name`` cannot be used now (its server does not answer ``GET /models``
        within ``timeout`` s, or its key is missing), or None (``promptly doctor``)."""
        if name in self._asked():
            return (await self._served(name, timeout))[1]
        return await self._key_problem(name)

    async def models(self) -> list[dict[str, Any]]:
        async with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_SECONDS:
                return self._cache[1]
            models = await self._build()
            self._cache = (time.monotonic(), models)
            return models

    async def _build(self) -> list[dict[str, Any]]:
        asked = self._asked()
        answers = await asyncio.gather(*(self._served(n) for n in asked))
        served = dict(zip(asked, answers, strict=True))
        key_problems: dict[str, str | None] = {}
        for name in self.config.providers:
            if name not in served:
                key_problems[name] = await self._key_problem(name)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for info in self.catalog.all():
            entry = info.to_api()
            seen.add(info.id)
            provider, _, model = info.id.partition("/")
            if provider not in self.config.providers:
                entry.update(available=False, availabilityReason=(
                    f"provider {provider!r} is not configured; add [providers.{provider}]"))
            elif provider in served:
                names, problem = served[provider]
                if names is None:
                    entry.update(available=False, availabilityReason=problem)
                elif model in names or f"{model}:latest" in names:
                    entry["available"] = True
                else:
                    hint = f" (run `ollama pull {model}`)" if provider == "ollama" else ""
                    entry.update(available=False,
                                 availabilityReason=f"{provider} does not serve {model}{hint}")
            else:
                problem = key_problems.get(provider)
                entry["available"] = problem is None
                if problem is not None:
                    entry["availabilityReason"] = problem
            out.append(entry)
        for provider, (names, _problem) in served.items():
            local = self.config.providers[provider].local
            for model in names or []:
                model_id = f"{provider}/{model}"
                if model_id in seen or f"{provider}/{model.removesuffix(':latest')}" in seen:
                    continue
                seen.add(model_id)
                out.append({"id": model_id, "name": model, "provider": provider,
                            "inputPricePerMillion": 0.0 if local else None,
                            "outputPricePerMillion": 0.0 if local else None,
                            "local": local, "available": True, "discovered": True})
        return [{k: v for k, v in m.items() if v is not None} for m in out]
