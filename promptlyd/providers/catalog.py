"""The built-in model catalog: what ``GET /models`` starts from, and what a run's cost comes from.

The catalog ships as data (``promptlyd/data/models.json``) and is read once at daemon
start with the standard library only. A model id is ``provider/model``; the model part
may itself hold slashes (``openrouter/meta-llama/llama-3.1-8b-instruct``).

Lookups accept the canonical id or a bare model name when exactly one provider has it
(``gpt-4o-mini`` → ``openai/gpt-4o-mini``), which is how the hosted API names models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

DATA_PACKAGE = "promptlyd"
DATA_FILE = "data/models.json"
SCHEMA_VERSION = 1

# JSON key → (attribute, kind). Required keys must be present in every model entry;
# optional ones may be left out (and are then left out of ``to_api`` too).
_REQUIRED: dict[str, tuple[str, str]] = {
    "id": ("id", "str"),
    "name": ("name", "str"),
    "provider": ("provider", "str"),
    "supportsToolCalling": ("supports_tool_calling", "bool"),
    "supportsInternetSearch": ("supports_internet_search", "bool"),
    "inputPricePerMillion": ("input_price_per_million", "price"),
    "outputPricePerMillion": ("output_price_per_million", "price"),
    "local": ("local", "bool"),
}
_OPTIONAL: dict[str, tuple[str, str]] = {
    "contextLength": ("context_length", "posint"),
    "powerTier": ("power_tier", "posint"),
    "openRouterId": ("open_router_id", "str"),
    "intelligenceIndex": ("intelligence_index", "number"),
    "codingIndex": ("coding_index", "number"),
    "outputSpeed": ("output_speed", "number"),
    # The day the provider stops serving the model (ISO date). A model with one is
    # deprecated; from that day on it is retired. Ours to keep, not the SDKs' tables.
    "endOfLife": ("end_of_life", "date"),
}
# The order of keys in ``to_api``: the seed's Model fields, then our additions.
_API_ORDER = (
    "id", "name", "provider", "contextLength", "powerTier", "openRouterId",
    "supportsToolCalling", "supportsInternetSearch", "intelligenceIndex", "codingIndex",
    "outputSpeed", "inputPricePerMillion", "outputPricePerMillion", "local",
)
_FIELDS = {**_REQUIRED, **_OPTIONAL}
# Fields the data file has that ``to_api`` leaves out (not part of the Model shape).
_INTERNAL = ("endOfLife",)


def split_model_id(model_id: str) -> tuple[str, str]:
    """Split ``provider/model`` at the first slash; the model part may hold more slashes.

    Raises ``ValueError`` saying what is wrong with the id.
    """
    if not model_id:
        raise ValueError("model id is empty; expected 'provider/model', e.g. 'openai/gpt-4o-mini'")
    provider, sep, model = model_id.partition("/")
    if not sep:
        raise ValueError(f"model id {model_id!r} has no provider; expected 'provider/model', "
                         f"e.g. 'openai/{model_id}'")
    if not provider:
        raise ValueError(f"model id {model_id!r} has an empty provider before the '/'")
    if not model:
        raise ValueError(f"model id {model_id!r} has an empty model name after the '/'")
    if "" in model.split("/"):
        raise ValueError(f"model id {model_id!r} has an empty part between slashes")
    return provider, model


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry. Prices are USD per million tokens; local models cost nothing."""

    id: str
    name: str
    provider: str
    context_length: int | None
    power_tier: int | None
    open_router_id: str | None
    supports_tool_calling: bool
    supports_internet_search: bool
    intelligence_index: float | None
    coding_index: float | None
    output_speed: float | None
    input_price_per_million: float
    output_price_per_million: float
    local: bool
    end_of_life: date | None = None

    @property
    def deprecated(self) -> bool:
        """Whether the provider has announced an end of life for the model."""
        return self.end_of_life is not None

    def retired(self, today: date) -> bool:
        """Whether the model has reached its end of life by ``today``."""
        return self.end_of_life is not None and today >= self.end_of_life

    @property
    def model_name(self) -> str:
        """The part after ``provider/``: ``gpt-4o-mini``, ``meta-llama/llama-3.1-8b-instruct``."""
        return split_model_id(self.id)[1]

    def to_api(self) -> dict[str, object]:
        """The API shape: camelCase seed fields plus prices and ``local``; no nulls."""
        out: dict[str, object] = {}
        for key in _API_ORDER:
            value = getattr(self, _FIELDS[key][0])
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ModelInfo:
        """Build from one ``models`` entry of the data file; ``ValueError`` names the field."""
        where = f"model {entry.get('id')!r}" if isinstance(entry.get("id"), str) else "model"
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} "
                             f"(allowed: {', '.join((*_API_ORDER, *_INTERNAL))})")
        values: dict[str, Any] = {attr: None for attr, _ in _OPTIONAL.values()}
        for key, (attr, kind) in _FIELDS.items():
            if key not in entry:
                if key in _REQUIRED:
                    raise ValueError(f"{where}: missing required field {key!r}")
                continue
            values[attr] = _check(entry[key], kind, f"{where}: {key}")
        info = cls(**values)
        try:
            provider, _ = split_model_id(info.id)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if provider != info.provider:
            raise ValueError(f"{where}: id starts with {provider!r} but provider is "
                             f"{info.provider!r}; they must match")
        if info.local and (info.input_price_per_million or info.output_price_per_million):
            raise ValueError(f"{where}: a local model must have prices of 0")
        return info


def _check(value: Any, kind: str, what: str) -> Any:
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise ValueError(f"{what} must be a non-empty string, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{what} must be true or false, got {value!r}")
        return value
    if kind == "date":
        try:
            if isinstance(value, str) and len(value) == 10:
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise ValueError(f"{what} must be a date as YYYY-MM-DD, got {value!r}")
    if kind == "posint":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a whole number of at least 1, got {value!r}")
        return value
    # "number" and "price": int or float, never bool; prices may not be negative.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{what} must be a number, got {value!r}")
    if kind == "price" and value < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return float(value)


class Catalog:
    """An immutable set of models, with lookups by full id or unique bare name."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self._models: tuple[ModelInfo, ...] = tuple(models)
        self._by_id: dict[str, ModelInfo] = {}
        by_name: dict[str, list[str]] = {}
        for info in self._models:
            if info.id in self._by_id:
                raise ValueError(f"model id {info.id!r} appears twice in the catalog")
            self._by_id[info.id] = info
            by_name.setdefault(info.model_name, []).append(info.id)
        # A bare name resolves only when a single provider offers it.
        self._by_bare_name = {name: ids[0] for name, ids in by_name.items() if len(ids) == 1}

    @classmethod
    def load(cls) -> Catalog:
        """The built-in catalog, read from the packaged data file."""
        text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text(encoding="utf-8")
        return cls.from_data(json.loads(text))

    @classmethod
    def from_data(cls, data: Any) -> Catalog:
        """Build from the data file's parsed JSON; ``ValueError`` says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("model catalog must be a JSON object with a 'models' array")
        if data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"model catalog version {data.get('version')!r} is not supported "
                             f"(expected {SCHEMA_VERSION})")
        currency = data.get("pricesCurrency", "USD")
        if currency != "USD":
            raise ValueError(f"model catalog prices must be in USD, not {currency!r}")
        entries = data.get("models")
        if not isinstance(entries, list):
            raise ValueError("model catalog must have a 'models' array")
        models = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"models[{index}] must be an object, got {entry!r}")
            models.append(ModelInfo.from_dict(entry))
        return cls(models)

    def all(self) -> list[ModelInfo]:
        """Every model, in catalog order."""
        return list(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def resolve_id(self, model_id: str) -> str | None:
        """The canonical ``provider/model`` for a full id or a unique bare name; else None."""
        if model_id in self._by_id:
            return model_id
        return self._by_bare_name.get(model_id)

    def get(self, model_id: str) -> ModelInfo | None:
        """The model for a full id or a bare name that only one provider has; else None."""
        canonical = self.resolve_id(model_id)
        return None if canonical is None else self._by_id[canonical]

    def cost_cents(self, model_id: str, input_tokens: int, output_tokens: int) -> float:
        """What a call cost in US cents, from the catalog's prices, rounded to 6 decimals.

        Unknown and local models cost 0.0. Negative token counts are a caller bug.
        """
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token counts must not be negative (input={input_tokens}, "
                             f"output={output_tokens})")
        info = self.get(model_id)
        if info is None or info.local:
            return 0.0
        usd_per_million = (input_tokens * info.input_price_per_million
                           + output_tokens * info.output_price_per_million)
        # USD = x / 1e6; cents = USD * 100 = x / 1e4.
        return round(usd_per_million / 10_000, 6)
