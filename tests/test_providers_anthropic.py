"""Anthropic provider, through the real anthropic SDK against a loopback Messages server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from promptlyd.config import ProviderConfig
from promptlyd.providers import (
    ModelError,
    ModelRequest,
    ProviderRegistry,
    RetryPolicy,
    ToolSpec,
    UserMessage,
    run_conversation,
)
from promptlyd.providers.anthropic import AnthropicProvider
from tests.fakes.helpers import Sleeps, within
from tests.fakes.model_servers import (
    AnthropicServer,
    malformed_json,
    no_usage,
    raw,
    reply,
    running,
    slow,
    status,
    tool_call,
    tool_calls,
)

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    for s in running(AnthropicServer()):
        yield s
        assert s.errors == []  # the fake itself never broke


def config_for(server: AnthropicServer, *, timeout: float = 5.0) -> ProviderConfig:
    return ProviderConfig(name="anthropic", kind="anthropic", base_url=server.base_url,
                          api_key="anthropic", timeout_seconds=timeout)


@pytest.fixture
async def provider(server: AnthropicServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(config_for(server), "sk-ant-test-key")
    yield p
    await p.aclose()


def ask(text: str = "hi", **extra: Any) -> ModelRequest:
    return ModelRequest(model=extra.pop("model", MODEL),
                        system=extra.pop("system", "You are terse."),
                        messages=[UserMessage(text)], **extra)


async def test_plain_message_with_system_and_usage(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([reply("Four.", usage=(12, 5))])
    response = await within(provider.complete(ask("What is 2+2?", max_tokens=300)))
    assert (response.text, response.input_tokens, response.output_tokens) == ("Four.", 12, 5)
    assert response.usage_estimated is False
    assert response.stop_reason == "end_turn"
    assert response.raw_model == MODEL
    [sent] = server.completion_requests
    assert sent.body["system"] == "You are terse."
    assert sent.body["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert sent.body["max_tokens"] == 300
    assert "tools" not in sent.body and "temperature" not in sent.body
    assert server.key_of(sent) == "sk-ant-test-key"
    assert "anthropic-version" in sent.headers


async def test_cache_tokens_count_as_input(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([raw({
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 3, "cache_creation_input_tokens": 100,
                  "cache_read_input_tokens": 1000}})])
    response = await within(provider.complete(ask()))
    assert (response.input_tokens, response.output_tokens) == (1110, 3)


async def test_no_usage_is_estimated(server: AnthropicServer, provider: AnthropicProvider) -> None:
    server.script([no_usage("abcdefgh")])
    response = await within(provider.complete(ask()))
    assert response.usage_estimated is True
    assert response.output_tokens == 2


class Tools:
    def specs(self) -> list[ToolSpec]:
        schema = {"type": "object", "properties": {"q": {"type": "string"}}}
        return [ToolSpec("search", "Search notes", schema),
                ToolSpec("explode", "Always fails", {"type": "object"})]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        if name == "explode":
            raise RuntimeError("disk on fire")
        return f"found: {arguments['q']}"


async def test_tool_use_round_trip_with_a_failing_tool(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([
        tool_calls(("search", {"q": "milk"}), ("explode", {}), text="Let me look."),
        reply("We need milk."),
    ])
    result = await within(run_conversation(provider, ask("Shopping list?"), Tools(),
                                           max_rounds=2, max_tool_output_chars=500))
    assert result.text == "We need milk."
    first, second = server.completion_requests
    assert first.body["tools"] == [
        {"name": "search", "description": "Search notes", "input_schema": {
            "type": "object", "properties": {"q": {"type": "string"}}}},
        {"name": "explode", "description": "Always fails", "input_schema": {"type": "object"}},
    ]
    assistant, results = second.body["messages"][1:]
    search_id = assistant["content"][1]["id"]
    explode_id = assistant["content"][2]["id"]
    assert assistant == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": search_id, "name": "search", "input": {"q": "milk"}},
        {"type": "tool_use", "id": explode_id, "name": "explode", "input": {}},
    ]}
    assert results == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": search_id, "content": "found: milk"},
        {"type": "tool_result", "tool_use_id": explode_id,
         "content": "error: RuntimeError: disk on fire", "is_error": True},
    ]}
    assert [(r.name, r.output, r.error) for r in result.tool_calls] == [
        ("search", "found: milk", None), ("explode", None, "RuntimeError: disk on fire")]
    assert first.body["system"] == second.body["system"] == "You are terse."


async def test_overloaded_then_success_is_retried(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([status(529, message="Overloaded"), reply("ok")])
    sleeps = Sleeps()
    result = await within(run_conversation(
        provider, ask(), None, max_rounds=0, max_tool_output_chars=10,
        retry=RetryPolicy(attempts=2, base_delay=2, max_delay=10, sleep=sleeps)))
    assert (result.text, result.retries, result.model_calls) == ("ok", 1, 1)
    assert len(server.completion_requests) == 2
    assert 1 <= sleeps.delays[0] <= 2


async def test_rate_limit_forever_gives_up(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.default = status(429, retry_after=3, message="Number of requests exceeded")
    sleeps = Sleeps()
    with pytest.raises(ModelError) as info:
        await within(RetryPolicy(attempts=4, max_delay=2, sleep=sleeps).run(
            lambda: provider.complete(ask())))
    assert info.value.kind == "rate_limit"
    assert info.value.retry_after == 3
    assert sleeps.delays == [2, 2, 2]  # Retry-After honoured, capped at max_delay
    assert "(429: Number of requests exceeded)" in info.value.message
    assert info.value.message.endswith("(gave up after 4 attempts)")


async def test_bad_key_names_the_fix(server: AnthropicServer) -> None:
    server.require_key = "sk-ant-right"

    class Store:
        def get(self, name: str) -> str | None:
            return {"anthropic": "sk-ant-wrong"}.get(name)

    registry = ProviderRegistry({"anthropic": config_for(server)}, Store())
    provider, model = registry.resolve(f"anthropic/{MODEL}")
    try:
        with pytest.raises(ModelError) as info:
            await within(provider.complete(ask()))
    finally:
        await registry.aclose()
    assert model == MODEL
    assert info.value.kind == "auth"
    assert info.value.message == ("anthropic rejected the API key (401: invalid x-api-key): "
                                  "check it with `promptly secrets set anthropic`")


async def test_slow_answer_times_out(server: AnthropicServer) -> None:
    # The answer would take a minute; ``within`` fails the test long before that, so
    # only the provider's own 0.5 s timeout can end the call in time.
    server.script([slow(60)])
    p = AnthropicProvider(config_for(server, timeout=0.5), "sk-ant-test-key")
    try:
        with pytest.raises(ModelError) as info:
            await within(p.complete(ask()), 30)
    finally:
        await p.aclose()
    assert info.value.kind == "timeout"
    assert "within 0.5 s" in info.value.message


async def test_malformed_json_is_a_bad_response(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([malformed_json()])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == "bad_response"


async def test_a_message_without_content_is_a_bad_response(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([raw({"type": "message", "id": "msg_1", "role": "assistant"})])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == "bad_response"
    assert "no content blocks" in info.value.message


async def test_list_models_pages_through_v1_models(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.models = ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert await within(provider.list_models()) == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    [sent] = server.requests
    assert (sent.method, sent.path) == ("GET", "/v1/models")


async def test_tool_call_ids_survive_the_round_trip(
    server: AnthropicServer, provider: AnthropicProvider,
) -> None:
    server.script([tool_call("search", {"q": "x"}, call_id="toolu_fixed"), reply("done")])
    await within(run_conversation(provider, ask(), Tools(), max_rounds=1,
                                  max_tool_output_chars=100))
    results = server.completion_requests[1].body["messages"][-1]["content"]
    assert results == [{"type": "tool_result", "tool_use_id": "toolu_fixed",
                        "content": "found: x"}]


@pytest.fixture
def sdk_deprecates() -> Iterator[Callable[[str, str], None]]:
    """Put a model on the SDK's own deprecation table for one test.

    Which models the installed SDK lists changes with every release; the test brings its
    own entry (into the very dict the SDK's ``messages.create`` consults) and takes it out
    again, so it proves the same thing whatever the SDK ships.
    """
    from anthropic import _data

    table: dict[str, str] = _data.DEPRECATED_MODELS
    added: list[str] = []

    def deprecate(model: str, end_of_life: str) -> None:
        assert model not in table, f"{model} is already on the SDK's table: pick another name"
        table[model] = end_of_life
        added.append(model)

    yield deprecate
    for model in added:
        del table[model]


async def test_a_deprecated_model_is_logged_once_not_warned(
    server: AnthropicServer, provider: AnthropicProvider, caplog: pytest.LogCaptureFixture,
    sdk_deprecates: Callable[[str, str], None],
) -> None:
    # On the SDK's table, the SDK raises a DeprecationWarning per call (an error under
    # filterwarnings=error); the provider says so once in its log instead.
    sdk_deprecates("claude-test-retiring", "January 1st, 2099")
    with caplog.at_level("WARNING", logger="promptlyd.providers.anthropic"):
        await within(provider.complete(ask(model="claude-test-retiring")))
        await within(provider.complete(ask(model="claude-test-retiring")))
    notes = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert notes == ["anthropic: model claude-test-retiring is deprecated and reaches "
                     "end-of-life on January 1st, 2099; choose a newer model"]
    assert [r.body["model"] for r in server.completion_requests] == ["claude-test-retiring"] * 2


async def test_a_model_off_the_deprecation_table_is_not_logged(
    server: AnthropicServer, provider: AnthropicProvider, caplog: pytest.LogCaptureFixture,
    sdk_deprecates: Callable[[str, str], None],
) -> None:
    sdk_deprecates("claude-test-retiring", "January 1st, 2099")
    with caplog.at_level("WARNING", logger="promptlyd.providers.anthropic"):
        await within(provider.complete(ask(model="claude-test-current")))
    assert [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()] == []
