"""The built-in model catalog: the shipped data file, lookups, cost arithmetic, API shape."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from promptlyd.config import DEFAULT_MODEL, load_config
from promptlyd.providers.catalog import Catalog, ModelInfo, split_model_id

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("promptlyd").joinpath("data/models.json").read_text("utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str) and bool(value.strip())
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "count":
        return isinstance(value, int) and value >= 1
    return True


# Field → kind: "str", "bool", "count" (a whole number ≥ 1) or "number" (int or float).
REQUIRED = {
    "id": "str", "name": "str", "provider": "str", "contextLength": "count",
    "powerTier": "count", "supportsToolCalling": "bool", "supportsInternetSearch": "bool",
    "inputPricePerMillion": "number", "outputPricePerMillion": "number", "local": "bool",
}
OPTIONAL = {"openRouterId": "str", "intelligenceIndex": "number", "codingIndex": "number",
            "outputSpeed": "number", "endOfLife": "date"}

# The models the catalog promises, by provider (the floor per provider follows from these).
EXPECTED = {
    "anthropic": ["claude-opus-4-1", "claude-opus-4", "claude-sonnet-4-5", "claude-sonnet-4",
                  "claude-haiku-4-5", "claude-3-5-haiku"],
    "openai": ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
               "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"],
    "openrouter": ["meta-llama/llama-3.1-8b-instruct", "google/gemini-2.5-flash",
                   "deepseek/deepseek-chat", "mistralai/mistral-small-3.2-24b-instruct"],
    "ollama": ["llama3.2", "llama3.1", "qwen2.5", "mistral", "gemma3"],
}


# --- the data file -------------------------------------------------------------------------

def test_data_file_header(raw: dict[str, Any]) -> None:
    assert raw["version"] == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw["updated"])
    assert raw["pricesCurrency"] == "USD"
    assert raw["sources"] and all(isinstance(s, str) and s.strip() for s in raw["sources"])
    assert isinstance(raw["models"], list)


def test_every_model_has_every_required_field_with_the_right_type(raw: dict[str, Any]) -> None:
    for entry in raw["models"]:
        where = entry.get("id")
        assert set(entry) <= set(REQUIRED) | set(OPTIONAL), where
        for key, kind in REQUIRED.items():
            assert key in entry, f"{where}: missing {key}"
            assert _is_kind(entry[key], kind), f"{where}: {key}={entry[key]!r}"
        for key, kind in OPTIONAL.items():
            if key in entry:
                assert entry[key] is not None, f"{where}: {key} is null; leave it out instead"
                assert _is_kind(entry[key], kind), f"{where}: {key}={entry[key]!r}"
        assert entry["name"].strip()
        assert 1 <= entry["powerTier"] <= 4, where


def test_ids_unique_and_prefixed_by_provider(raw: dict[str, Any]) -> None:
    ids = [entry["id"] for entry in raw["models"]]
    assert len(ids) == len(set(ids))
    for entry in raw["models"]:
        provider, model = split_model_id(entry["id"])
        assert provider == entry["provider"], entry["id"]
        assert model == model.strip() and " " not in model, entry["id"]


def test_prices_non_negative_and_zero_exactly_for_local(raw: dict[str, Any]) -> None:
    for entry in raw["models"]:
        prices = (entry["inputPricePerMillion"], entry["outputPricePerMillion"])
        assert min(prices) >= 0, entry["id"]
        if entry["local"]:
            assert prices == (0, 0), entry["id"]
        else:
            assert min(prices) > 0, entry["id"]
        assert entry["local"] == (entry["provider"] == "ollama"), entry["id"]


def test_output_never_cheaper_than_input(raw: dict[str, Any]) -> None:
    for entry in raw["models"]:
        assert entry["outputPricePerMillion"] >= entry["inputPricePerMillion"], entry["id"]


def test_expected_models_present(raw: dict[str, Any]) -> None:
    ids = {entry["id"] for entry in raw["models"]}
    for provider, names in EXPECTED.items():
        for name in names:
            assert f"{provider}/{name}" in ids
        count = sum(1 for entry in raw["models"] if entry["provider"] == provider)
        assert count >= len(names), provider


def test_openrouter_ids_are_the_openrouter_slug(raw: dict[str, Any]) -> None:
    for entry in raw["models"]:
        if "openRouterId" in entry:
            assert re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9._:-]+", entry["openRouterId"]), entry
        if entry["provider"] == "openrouter":
            assert entry["openRouterId"] == split_model_id(entry["id"])[1]


def test_known_published_prices(catalog: Catalog) -> None:
    # A few anchors from the providers' price pages, so a typo in the file is caught.
    anchors = {
        "anthropic/claude-sonnet-4-5": (3, 15), "anthropic/claude-opus-4-1": (15, 75),
        "anthropic/claude-haiku-4-5": (1, 5), "anthropic/claude-3-5-haiku": (0.8, 4),
        "openai/gpt-4o-mini": (0.15, 0.6), "openai/gpt-5": (1.25, 10),
        "openai/gpt-4.1": (2, 8), "openai/o4-mini": (1.1, 4.4),
    }
    for model_id, (inp, out) in anchors.items():
        info = catalog.get(model_id)
        assert info is not None, model_id
        assert (info.input_price_per_million, info.output_price_per_million) == (inp, out)


def test_loads_every_entry(raw: dict[str, Any], catalog: Catalog) -> None:
    assert [m.id for m in catalog.all()] == [e["id"] for e in raw["models"]]
    assert len(catalog) == len(raw["models"])


# --- cost ----------------------------------------------------------------------------------

def _price(raw: dict[str, Any], model_id: str) -> tuple[float, float]:
    entry = next(e for e in raw["models"] if e["id"] == model_id)
    return entry["inputPricePerMillion"], entry["outputPricePerMillion"]


def test_million_tokens_cost_price_times_100_cents(raw: dict[str, Any], catalog: Catalog) -> None:
    inp, out = _price(raw, "anthropic/claude-sonnet-4-5")
    assert catalog.cost_cents("anthropic/claude-sonnet-4-5", 1_000_000, 0) == inp * 100
    assert catalog.cost_cents("anthropic/claude-sonnet-4-5", 0, 1_000_000) == out * 100


@pytest.mark.parametrize("tokens", [(1, 1), (1234, 567), (0, 0), (10_000_000, 3_000_000)])
def test_cost_matches_file_prices_for_every_model(
    raw: dict[str, Any], catalog: Catalog, tokens: tuple[int, int]
) -> None:
    inp_tokens, out_tokens = tokens
    for entry in raw["models"]:
        inp, out = entry["inputPricePerMillion"], entry["outputPricePerMillion"]
        expected = round((inp_tokens * inp + out_tokens * out) / 1_000_000 * 100, 6)
        got = catalog.cost_cents(entry["id"], inp_tokens, out_tokens)
        assert got == pytest.approx(expected, abs=1e-6), entry["id"]
        assert got == round(got, 6)


def test_cost_by_bare_name_and_worked_example(catalog: Catalog) -> None:
    # gpt-4o-mini: 1,234 in × $0.15 + 567 out × $0.60 = $0.0005253 = 0.05253 cents.
    assert catalog.cost_cents("gpt-4o-mini", 1234, 567) == 0.05253
    assert catalog.cost_cents("openai/gpt-4o-mini", 1234, 567) == 0.05253


def test_local_and_unknown_models_cost_nothing(catalog: Catalog) -> None:
    for info in catalog.all():
        if info.local:
            assert catalog.cost_cents(info.id, 5_000_000, 5_000_000) == 0.0
    assert catalog.cost_cents("ollama/llama3.2", 1000, 1000) == 0.0
    assert catalog.cost_cents("nosuch/model", 1000, 1000) == 0.0
    assert catalog.cost_cents("not-a-model", 1000, 1000) == 0.0


def test_negative_tokens_rejected(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="negative"):
        catalog.cost_cents("openai/gpt-4o", -1, 0)


# --- API shape -----------------------------------------------------------------------------

def test_to_api_camel_case_and_no_nulls(catalog: Catalog) -> None:
    info = catalog.get("ollama/gemma3")
    assert info is not None
    body = info.to_api()
    assert body["id"] == "ollama/gemma3"
    assert body["contextLength"] == info.context_length
    assert body["supportsToolCalling"] is False
    assert body["local"] is True
    assert body["inputPricePerMillion"] == 0
    for key in ("openRouterId", "intelligenceIndex", "codingIndex", "outputSpeed"):
        assert key not in body
    for model in catalog.all():
        api = model.to_api()
        assert None not in api.values()
        assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", key) for key in api)


def test_to_api_includes_every_set_field() -> None:
    info = ModelInfo(
        id="example/full", name="Full", provider="example", context_length=8192, power_tier=2,
        open_router_id="example/full", supports_tool_calling=True,
        supports_internet_search=False, intelligence_index=50.5, coding_index=40.0,
        output_speed=120.0, input_price_per_million=1.0, output_price_per_million=2.0,
        local=False,
    )
    assert info.to_api() == {
        "id": "example/full", "name": "Full", "provider": "example", "contextLength": 8192,
        "powerTier": 2, "openRouterId": "example/full", "supportsToolCalling": True,
        "supportsInternetSearch": False, "intelligenceIndex": 50.5, "codingIndex": 40.0,
        "outputSpeed": 120.0, "inputPricePerMillion": 1.0, "outputPricePerMillion": 2.0,
        "local": False,
    }


def test_to_api_round_trips_through_from_dict(catalog: Catalog) -> None:
    for info in catalog.all():  # endOfLife is the catalog's own, not the API's Model shape
        assert ModelInfo.from_dict(info.to_api()) == replace(info, end_of_life=None)


# --- end of life ---------------------------------------------------------------------------

def test_the_default_model_is_current(catalog: Catalog) -> None:
    """The model tasks get without one is in our catalog and not deprecated there."""
    info = catalog.get(DEFAULT_MODEL)
    assert info is not None, f"{DEFAULT_MODEL} is not in promptlyd/data/models.json"
    assert info.end_of_life is None and not info.deprecated
    assert not info.local  # the default works without a local server


def test_the_default_is_the_same_everywhere() -> None:
    assert load_config(env={"HOME": "/nonexistent"}).default_model == DEFAULT_MODEL
    example = (ROOT / "config.example.toml").read_text()
    assert f'default_model = "{DEFAULT_MODEL}"' in example
    assert f"`{DEFAULT_MODEL}`" in (ROOT / "README.md").read_text()


def test_an_end_of_life_model_is_deprecated_then_retired(catalog: Catalog) -> None:
    sonnet = catalog.get("anthropic/claude-sonnet-4-5")  # kept: old tasks still price runs
    assert sonnet is not None and sonnet.deprecated
    assert sonnet.end_of_life == date(2026, 11, 30)
    assert not sonnet.retired(date(2026, 11, 29)) and sonnet.retired(date(2026, 11, 30))
    assert "endOfLife" not in sonnet.to_api()
    opus = catalog.get("anthropic/claude-opus-4-5")
    assert opus is not None and opus.deprecated and not opus.retired(date(2026, 12, 1))
    current = catalog.get("anthropic/claude-sonnet-5-5")
    assert current is not None and not current.deprecated and not current.retired(date.max)


# --- ids and lookups -----------------------------------------------------------------------

@pytest.mark.parametrize(("model_id", "expected"), [
    ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
    ("openrouter/meta-llama/llama-3.1-8b-instruct",
     ("openrouter", "meta-llama/llama-3.1-8b-instruct")),
    ("ollama/llama3.2", ("ollama", "llama3.2")),
    ("ollama/qwen2.5:7b", ("ollama", "qwen2.5:7b")),
])
def test_split_model_id(model_id: str, expected: tuple[str, str]) -> None:
    assert split_model_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "problem"), [
    ("", "empty"),
    ("noslash", "no provider"),
    ("/x", "empty provider"),
    ("x/", "empty model name"),
    ("openrouter/meta-llama/", "empty part"),
    ("a//b", "empty part"),
])
def test_split_model_id_rejects(model_id: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_model_id(model_id)


def test_get_by_full_id_and_unique_bare_name(catalog: Catalog) -> None:
    full = catalog.get("openai/gpt-4o-mini")
    assert full is not None and full.provider == "openai"
    assert catalog.get("gpt-4o-mini") is full
    assert catalog.resolve_id("gpt-4o-mini") == "openai/gpt-4o-mini"
    assert catalog.resolve_id("claude-sonnet-4-5") == "anthropic/claude-sonnet-4-5"
    assert catalog.resolve_id("llama3.2") == "ollama/llama3.2"
    # The model part of an OpenRouter id holds a slash; as a bare name it still resolves.
    assert (catalog.resolve_id("meta-llama/llama-3.1-8b-instruct")
            == "openrouter/meta-llama/llama-3.1-8b-instruct")
    assert catalog.resolve_id("anthropic/claude-sonnet-4-5") == "anthropic/claude-sonnet-4-5"


def test_unknown_ids_resolve_to_none(catalog: Catalog) -> None:
    for model_id in ("", "gpt-9", "openai/gpt-9", "ollama/llama99", "GPT-4O-MINI", "openai/"):
        assert catalog.get(model_id) is None
        assert catalog.resolve_id(model_id) is None


def _model(model_id: str, *, local: bool = False) -> ModelInfo:
    provider = split_model_id(model_id)[0]
    price = 0.0 if local else 1.0
    return ModelInfo(
        id=model_id, name=model_id, provider=provider, context_length=None, power_tier=None,
        open_router_id=None, supports_tool_calling=True, supports_internet_search=False,
        intelligence_index=None, coding_index=None, output_speed=None,
        input_price_per_million=price, output_price_per_million=price, local=local,
    )


def test_ambiguous_bare_name_resolves_to_none() -> None:
    catalog = Catalog([_model("ollama/mistral", local=True), _model("lmstudio/mistral", local=True),
                       _model("openai/gpt-4o")])
    assert catalog.get("mistral") is None
    assert catalog.resolve_id("mistral") is None
    assert catalog.cost_cents("mistral", 100, 100) == 0.0
    # Full ids still work, and an unambiguous bare name still does.
    assert catalog.resolve_id("lmstudio/mistral") == "lmstudio/mistral"
    assert catalog.resolve_id("gpt-4o") == "openai/gpt-4o"


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        Catalog([_model("openai/gpt-4o"), _model("openai/gpt-4o")])


# --- loading errors ------------------------------------------------------------------------

def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "openai/x", "name": "X", "provider": "openai", "contextLength": 1000,
        "powerTier": 2, "supportsToolCalling": True, "supportsInternetSearch": False,
        "inputPricePerMillion": 1, "outputPricePerMillion": 2, "local": False,
    }
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not ...}


def _doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "pricesCurrency": "USD", "models": list(entries)}


def test_from_data_accepts_minimal_document() -> None:
    catalog = Catalog.from_data(_doc(_entry(contextLength=..., powerTier=...)))
    info = catalog.get("x")
    assert info is not None
    assert info.context_length is None and info.power_tier is None
    assert info.input_price_per_million == 1.0 and isinstance(info.input_price_per_million, float)


@pytest.mark.parametrize(("entry", "problem"), [
    (_entry(name=...), "missing required field 'name'"),
    (_entry(provider="anthropic"), "provider is 'anthropic'"),
    (_entry(inputPricePerMillion=-1), "must not be negative"),
    (_entry(outputPricePerMillion="2"), "must be a number"),
    (_entry(local=True), "local model must have prices of 0"),
    (_entry(supportsToolCalling="yes"), "true or false"),
    (_entry(contextLength=0), "at least 1"),
    (_entry(contextLength=True), "whole number"),
    (_entry(contextLenght=5), "unknown field"),
    (_entry(id="x"), "no provider"),
    (_entry(openRouterId=None), "non-empty string"),
    (_entry(endOfLife="30 November 2026"), "endOfLife must be a date as YYYY-MM-DD"),
    (_entry(endOfLife="2026-02-30"), "endOfLife must be a date as YYYY-MM-DD"),
    (_entry(endOfLife=20261130), "endOfLife must be a date as YYYY-MM-DD"),
])
def test_from_data_rejects_bad_entries(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        Catalog.from_data(_doc(entry))


@pytest.mark.parametrize(("data", "problem"), [
    ([], "JSON object"),
    ({"version": 2, "models": []}, "version 2"),
    ({"version": 1, "pricesCurrency": "EUR", "models": []}, "USD"),
    ({"version": 1}, "'models' array"),
    ({"version": 1, "models": ["x"]}, "models[0]"),
])
def test_from_data_rejects_bad_documents(data: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        Catalog.from_data(data)
