"""From a model id ("openrouter/meta-llama/llama-3.1-8b-instruct") to a ready provider.

``PROVIDER_KINDS`` maps a wire protocol (``ProviderConfig.kind``) to the class
that speaks it; a plugin joins with ``register_provider_kind``. Nothing else in
promptlyd asks which kind a provider is.

Keys: ``ProviderConfig.api_key`` names a secret; ``SecretLookup.get(name)`` returns
it (the secret store does its own environment-variable fallback, by convention
``secret_env_var(name)``: ``anthropic`` → ``ANTHROPIC_API_KEY``). A remote provider
without its key raises ``SecretMissing``; a local one (``local = true``) goes
without.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from promptlyd.errors import SecretMissing
from promptlyd.providers.anthropic import AnthropicProvider
from promptlyd.providers.base import ModelError, Provider, secret_env_var
from promptlyd.providers.openai_compat import OpenAICompatProvider
from promptlyd.providers.retry import RetryPolicy, Sleep

if TYPE_CHECKING:
    from promptlyd.config import Config, ProviderConfig

log = logging.getLogger(__name__)


class SecretLookup(Protocol):
    def get(self, name: str) -> str | None:
        """The secret called ``name`` (keyring, file or environment), or None."""
        ...


# (config, api key or None) → provider. Classes qualify as they are.
ProviderFactory = Callable[["ProviderConfig", "str | None"], Provider]

PROVIDER_KINDS: dict[str, ProviderFactory] = {
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
}


def register_provider_kind(kind: str, factory: ProviderFactory) -> None:
    """Teach every registry created afterwards a new wire protocol (for plugins)."""
    PROVIDER_KINDS[kind] = factory


def split_model_id(model_id: str) -> tuple[str, str]:
    """``"provider/model"`` → ``("provider", "model")``; the model part may hold slashes."""
    provider, sep, model = model_id.strip().partition("/")
    if not sep or not provider or not model:
        raise ModelError(
            f"model id {model_id!r} is not 'provider/model': write it with the provider "
            "first, e.g. 'ollama/llama3.2' or 'anthropic/claude-sonnet-5-5'",
            kind="bad_request")
    return provider, model


class ProviderRegistry:
    """The configured providers, built on first use and cached per name.

    The key is looked up on every ``get``: after ``promptly secrets set NAME`` the next
    run uses the new key without a reload (the old client is closed by ``aclose``).
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        secrets: SecretLookup,
        *,
        kinds: Mapping[str, ProviderFactory] | None = None,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._configs = dict(providers)
        self._secrets = secrets
        self._kinds = kinds if kinds is not None else PROVIDER_KINDS
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._sleep = sleep
        self._cache: dict[str, tuple[str | None, Provider]] = {}
        self._retired: list[Provider] = []
        self._lock = threading.Lock()

    async def apply(self, config: Config) -> None:
        """A reloaded config (SIGHUP): see ``reconfigure``."""
        self.reconfigure(config.providers)

    def reconfigure(self, providers: Mapping[str, ProviderConfig]) -> None:
        """New provider settings (config reload): clients whose settings changed are
        retired (closed at ``aclose``) and rebuilt on next use."""
        with self._lock:
            for name, (_key, provider) in list(self._cache.items()):
                if providers.get(name) != self._configs.get(name):
                    self._retired.append(provider)
                    del self._cache[name]
            self._configs = dict(providers)

    def names(self) -> list[str]:
        return sorted(self._configs)

    def config(self, name: str) -> ProviderConfig:
        try:
            return self._configs[name]
        except KeyError:
            raise self._unknown(name, None) from None

    def _unknown(self, name: str, model_id: str | None) -> ModelError:
        where = f" in model id {model_id!r}" if model_id else ""
        known = ", ".join(self.names()) or "none"
        return ModelError(
            f"unknown provider {name!r}{where}: known providers are {known} "
            f"(declare others as [providers.{name}] in config)",
            kind="not_found", provider=name)

    def api_key(self, name: str) -> str | None:
        """The provider's key, None when it needs none; ``SecretMissing`` when it is missing."""
        config = self.config(name)
        if config.api_key is None:
            return None
        key = self._secrets.get(config.api_key)
        if key or config.local:
            return key or None
        raise SecretMissing(
            f"no API key for {name}: run `promptly secrets set {config.api_key}` "
            f"or set {secret_env_var(config.api_key)}",
            field=config.api_key)

    def get(self, name: str) -> Provider:
        """The provider called ``name``. Looks the key up, which may block (keyring):
        async callers use ``asyncio.to_thread``; the cache is safe across threads."""
        config = self.config(name)
        key = self.api_key(name)
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                cached_key, provider = cached
                if cached_key == key:
                    return provider
                self._retired.append(provider)
            factory = self._kinds.get(config.kind)
            if factory is None:
                known = ", ".join(sorted(self._kinds))
                raise ModelError(
                    f"provider {name!r} uses kind {config.kind!r}, which nothing installed "
                    f"speaks (known kinds: {known})", kind="not_found", provider=name)
            provider = factory(config, key)
            self._cache[name] = (key, provider)
        log.debug("provider %s ready (%s at %s)", name, config.kind, config.base_url)
        return provider

    def resolve(self, model_id: str) -> tuple[Provider, str]:
        """``"openrouter/meta-llama/llama-3.1-8b-instruct"`` → (provider, provider-local name)."""
        name, model = split_model_id(model_id)
        if name not in self._configs:
            raise self._unknown(name, model_id)
        return self.get(name), model

    def retry_policy(self, name: str) -> RetryPolicy:
        """1 + ``max_retries`` attempts for this provider, with the registry's backoff."""
        return RetryPolicy(attempts=self.config(name).max_retries + 1,
                           base_delay=self._retry_base_delay,
                           max_delay=self._retry_max_delay, sleep=self._sleep)

    async def aclose(self) -> None:
        with self._lock:
            providers = self._retired + [provider for _, provider in self._cache.values()]
            self._cache.clear()
            self._retired.clear()
        for provider in providers:
            await provider.aclose()
