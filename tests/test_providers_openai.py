"""OpenAI-compatible provider and the registry, through the real openai SDK over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptlyd.config import DEFAULT_PROVIDERS, LOCAL_PROVIDERS, ProviderConfig
from promptlyd.errors import SecretMissing
from promptlyd.providers import (
    ModelError,
    ModelRequest,
    ProviderRegistry,
    RetryPolicy,
    ToolSpec,
    UserMessage,
    register_provider_kind,
    run_conversation,
    secret_env_var,
    split_model_id,
)
from promptlyd.providers.openai_compat import OpenAICompatProvider
from promptlyd.providers.registry import PROVIDER_KINDS
from tests.fakes.helpers import Secrets, Sleeps, within
from tests.fakes.http_peers import ForwardProxy
from tests.fakes.model_servers import (
    OpenAIServer,
    disconnect,
    malformed_json,
    no_usage,
    raw,
    reply,
    running,
    slow,
    status,
    tool_call,
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    for s in running(OpenAIServer()):
        yield s
        assert s.errors == []  # the fake itself never broke


def config_for(server: OpenAIServer, *, name: str = "local", api_key: str | None = None,
               timeout: float = 5.0, local: bool = True) -> ProviderConfig:
    return ProviderConfig(name=name, kind="openai", base_url=server.base_url, api_key=api_key,
                          local=local, timeout_seconds=timeout)


@pytest.fixture
async def provider(server: OpenAIServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(config_for(server), None)
    yield p
    await p.aclose()


def ask(text: str = "hi", **extra: Any) -> ModelRequest:
    return ModelRequest(model="llama3.2", system=extra.pop("system", "be brief"),
                        messages=[UserMessage(text)], **extra)


# --- plain completions -------------------------------------------------------------

async def test_plain_completion_reports_usage_and_sends_the_prompt(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([reply("hello there", usage=(12, 5))])
    response = await within(provider.complete(ask("What is 2+2?", temperature=0.2)))
    assert response.text == "hello there"
    assert (response.input_tokens, response.output_tokens) == (12, 5)
    assert response.usage_estimated is False
    assert response.stop_reason == "stop"
    assert response.raw_model == "llama3.2"
    assert response.tool_calls == []
    [sent] = server.completion_requests
    assert sent.body["model"] == "llama3.2"
    assert sent.body["messages"] == [{"role": "system", "content": "be brief"},
                                     {"role": "user", "content": "What is 2+2?"}]
    assert sent.body["max_tokens"] == 4096
    assert sent.body["temperature"] == 0.2
    assert "tools" not in sent.body
    assert sent.headers["authorization"] == "Bearer sk-no-key"  # local: a placeholder


async def test_temperature_and_system_left_out_when_not_given(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    await within(provider.complete(ask("hi", system=None)))
    [sent] = server.completion_requests
    assert "temperature" not in sent.body
    assert sent.body["messages"] == [{"role": "user", "content": "hi"}]


async def test_max_tokens_field_follows_the_host(server: OpenAIServer) -> None:
    official = ProviderConfig(name="openai", kind="openai", base_url="https://api.openai.com/v1")
    assert OpenAICompatProvider(official, "sk-x").max_tokens_field == "max_completion_tokens"
    assert OpenAICompatProvider(config_for(server), None).max_tokens_field == "max_tokens"
    p = OpenAICompatProvider(config_for(server), None, max_tokens_field="max_completion_tokens")
    try:
        await within(p.complete(ask(max_tokens=77)))
    finally:
        await p.aclose()
    [sent] = server.completion_requests
    assert sent.body["max_completion_tokens"] == 77
    assert "max_tokens" not in sent.body


async def test_no_usage_is_estimated_and_flagged(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([no_usage("x" * 40)])
    response = await within(provider.complete(ask("y" * 100, system=None)))
    assert response.usage_estimated is True
    assert response.output_tokens == 10  # 40 chars / 4
    assert response.input_tokens == 25  # 100 chars / 4


async def test_list_models_reads_get_models(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.models = ["llama3.2", "qwen2.5:7b"]
    assert await within(provider.list_models()) == ["llama3.2", "qwen2.5:7b"]
    [sent] = server.requests
    assert (sent.method, sent.path) == ("GET", "/v1/models")


async def test_list_models_error_is_mapped(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.models_error = status(503)
    with pytest.raises(ModelError) as info:
        await within(provider.list_models())
    assert info.value.kind == "server"


async def test_a_slow_answer_can_be_released_without_sleeping(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([slow(30, then=reply("at last"))])
    call = asyncio.create_task(provider.complete(ask()))
    await within(asyncio.to_thread(server.wait_for_requests, 1))
    assert not call.done()
    server.release()
    response = await within(call)
    assert response.text == "at last"


def test_fake_server_echoes_by_default_for_sync_callers(server: OpenAIServer) -> None:
    import json
    import urllib.request

    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "ping"}]})
    request = urllib.request.Request(f"{server.base_url}/chat/completions", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        payload = json.load(answer)
    assert payload["choices"][0]["message"]["content"] == "ping"
    assert payload["usage"]["prompt_tokens"] == 10
    assert server.pending == 0


# --- tools ---------------------------------------------------------------------------

class Files:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec("read_file", "Read a file", {
            "type": "object", "properties": {"path": {"type": "string"}},
            "required": ["path"]})]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        self.calls.append((name, arguments))
        return f"contents of {arguments['path']}"

    async def aclose(self) -> None:
        return None


async def test_tool_call_round_trip(server: OpenAIServer, provider: OpenAICompatProvider) -> None:
    server.script([tool_call("read_file", {"path": "notes.txt"}, call_id="call_abc",
                             usage=(20, 7)),
                   reply("The notes say hi.", usage=(40, 6))])
    files = Files()
    result = await within(run_conversation(provider, ask("Summarise notes.txt"), files,
                                           max_rounds=3, max_tool_output_chars=1000))
    assert result.text == "The notes say hi."
    assert files.calls == [("read_file", {"path": "notes.txt"})]
    assert (result.input_tokens, result.output_tokens, result.model_calls) == (60, 13, 2)
    first, second = server.completion_requests
    assert first.body["tools"] == [{"type": "function", "function": {
        "name": "read_file", "description": "Read a file",
        "parameters": files.specs()[0].input_schema}}]
    assert second.body["messages"][2:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "read_file", "arguments": '{"path": "notes.txt"}'}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "contents of notes.txt"},
    ]
    [record] = result.tool_calls
    assert record.to_dict() | {"durationMs": 0} == {
        "round": 1, "name": "read_file", "arguments": {"path": "notes.txt"},
        "output": "contents of notes.txt", "error": None, "durationMs": 0,
        "outputChars": len("contents of notes.txt")}


async def test_arguments_that_are_not_json_reach_the_model_as_an_error(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([raw({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "read_file", "arguments": "{path: a"}}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
        reply("sorry")])
    files = Files()
    result = await within(run_conversation(provider, ask(), files, max_rounds=3,
                                           max_tool_output_chars=1000))
    assert files.calls == []  # never called with garbage
    tool_message = server.completion_requests[1].body["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"].startswith("error: invalid arguments for read_file")
    assert result.tool_calls[0].error is not None


# --- errors and retries -----------------------------------------------------------------

async def test_rate_limit_then_success_is_retried_and_counted(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([status(429, retry_after=0), reply("made it")])
    sleeps = Sleeps()
    result = await within(run_conversation(
        provider, ask(), None, max_rounds=1, max_tool_output_chars=100,
        retry=RetryPolicy(attempts=3, base_delay=1, max_delay=5, sleep=sleeps)))
    assert result.text == "made it"
    assert result.retries == 1
    assert result.model_calls == 1
    assert len(server.completion_requests) == 2
    assert sleeps.delays == [0.0]  # the server's Retry-After: 0


async def test_server_error_forever_gives_up_with_a_clear_message(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.default = status(500, message="upstream exploded")
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=3, base_delay=1, max_delay=5, sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await within(policy.run(lambda: provider.complete(ask())))
    error = info.value
    assert error.kind == "server"
    assert error.status_code == 500
    assert error.attempts == 3
    assert error.message == (
        "local had a server error (500: upstream exploded): the provider is having trouble; "
        "try again later (gave up after 3 attempts)")
    assert len(server.completion_requests) == 3
    assert len(sleeps.delays) == 2
    assert 0.5 <= sleeps.delays[0] <= 1 and 1 <= sleeps.delays[1] <= 2  # backoff with jitter


async def test_slow_response_times_out(server: OpenAIServer) -> None:
    # The answer would take a minute; ``within`` fails the test long before that, so
    # only the provider's own 0.5 s timeout can end the call in time.
    server.script([slow(60)])
    p = OpenAICompatProvider(config_for(server, timeout=0.5), None)
    try:
        with pytest.raises(ModelError) as info:
            await within(p.complete(ask()), 30)
    finally:
        await p.aclose()
    assert info.value.kind == "timeout"
    assert "did not answer within 0.5 s" in info.value.message
    assert "timeout_seconds under [providers.local]" in info.value.message


async def test_nan_in_an_answer_is_read_as_the_sdks_read_it(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    # not JSON strictly, but what Python's json (and so the SDKs) accept: a server's
    # stray NaN in a field we do not use must not fail the run
    server.script([raw('{"id": "x", "choices": [{"index": 0, "finish_reason": "stop", '
                       '"message": {"role": "assistant", "content": "fine"}, '
                       '"logprobs": NaN}], "usage": {"prompt_tokens": 3, '
                       '"completion_tokens": 1}}')])
    response = await within(provider.complete(ask()))
    assert response.text == "fine" and response.input_tokens == 3


async def test_malformed_json_is_a_bad_response(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([malformed_json()])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == "bad_response"
    assert "not valid JSON" in info.value.message
    assert not info.value.retryable


async def test_html_instead_of_json_is_a_bad_response(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([raw("<html>proxy error</html>", content_type="text/html")])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == "bad_response"


async def test_unauthorized_names_the_fix_and_is_not_retried(server: OpenAIServer) -> None:
    server.require_key = "sk-right-key"
    sleeps = Sleeps()
    registry = ProviderRegistry(
        {"openrouter": config_for(server, name="openrouter", api_key="openrouter", local=False)},
        Secrets(openrouter="sk-wrong-key"), sleep=sleeps)
    provider, _ = registry.resolve("openrouter/meta-llama/llama-3.1-8b-instruct")
    try:
        with pytest.raises(ModelError) as info:
            await within(registry.retry_policy("openrouter").run(
                lambda: provider.complete(ask())))
    finally:
        await registry.aclose()
    assert info.value.kind == "auth"
    assert info.value.message.startswith("openrouter rejected the API key (401")
    assert info.value.message.endswith("check it with `promptly secrets set openrouter`")
    assert len(server.completion_requests) == 1
    assert server.completion_requests[0].headers["authorization"] == "Bearer sk-wrong-key"
    assert sleeps.delays == []


async def test_a_key_echoed_by_the_server_is_scrubbed(server: OpenAIServer) -> None:
    secret = "sk-live-0123456789abcdef"
    server.script([status(401, message=f"Incorrect API key provided: {secret}.")])
    p = OpenAICompatProvider(config_for(server, api_key="local"), secret)
    try:
        with pytest.raises(ModelError) as info:
            await within(p.complete(ask()))
    finally:
        await p.aclose()
    assert secret not in info.value.message
    assert "[redacted]" in info.value.message


@pytest.mark.parametrize(("code", "kind"), [
    (400, "bad_request"), (403, "auth"), (404, "not_found"), (408, "timeout"),
    (422, "bad_request"), (502, "server"), (503, "server"),
])
async def test_status_codes_map_to_kinds(
    server: OpenAIServer, provider: OpenAICompatProvider, code: int, kind: str,
) -> None:
    server.script([status(code)])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == kind
    assert info.value.status_code == code


async def test_not_found_names_the_model(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([status(404, message="model 'llama3.2' not found")])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert "does not know model 'llama3.2'" in info.value.message
    assert server.base_url in info.value.message


async def test_dropped_connection_is_a_connection_error(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([disconnect()])
    with pytest.raises(ModelError) as info:
        await within(provider.complete(ask()))
    assert info.value.kind == "connection"
    assert info.value.retryable


async def test_server_not_running_is_a_connection_error() -> None:
    server = OpenAIServer().start()
    config = config_for(server, name="ollama")
    server.stop()  # nothing listens on that port now
    p = OpenAICompatProvider(config, None)
    try:
        with pytest.raises(ModelError) as info:
            await within(p.complete(ask()))
    finally:
        await p.aclose()
    assert info.value.kind == "connection"
    assert info.value.message.startswith(f"cannot reach ollama at {config.base_url}")
    assert "is the server running" in info.value.message


# --- proxies from the environment ---------------------------------------------------------

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
              "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A forward proxy on loopback, named by HTTP_PROXY (and nothing else set)."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as p:
        monkeypatch.setenv("HTTP_PROXY", p.url)
        yield p


async def test_the_model_call_goes_through_http_proxy(
    server: OpenAIServer, proxy: ForwardProxy,
) -> None:
    p = OpenAICompatProvider(config_for(server), None)
    try:
        response = await within(p.complete(ask("via the proxy")))
        models = await within(p.list_models())
    finally:
        await p.aclose()
    assert response.text == "via the proxy"  # the model server's echo, relayed
    assert models == ["fake-small", "fake-large"]
    assert [(s.method, s.target) for s in proxy.seen] == [
        ("POST", f"{server.base_url}/chat/completions"),  # absolute-form: to a proxy
        ("GET", f"{server.base_url}/models"),
    ]
    assert proxy.seen[0].headers["authorization"] == "Bearer sk-no-key"
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/models"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost, 127.0.0.1", "*"])
async def test_no_proxy_sends_the_model_call_direct(
    server: OpenAIServer, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str,
) -> None:
    monkeypatch.setenv("NO_PROXY", no_proxy)
    p = OpenAICompatProvider(config_for(server), None)
    try:
        response = await within(p.complete(ask("direct")))
    finally:
        await p.aclose()
    assert response.text == "direct"
    assert proxy.seen == []
    assert [r.path for r in server.completion_requests] == ["/v1/chat/completions"]


# --- the registry ----------------------------------------------------------------------

def default_configs(**overrides: ProviderConfig) -> dict[str, ProviderConfig]:
    configs = {
        name: ProviderConfig(name=name, kind=table["kind"], base_url=table["base_url"],
                             api_key=table.get("api_key"), local=name in LOCAL_PROVIDERS)
        for name, table in DEFAULT_PROVIDERS.items()
    }
    configs.update(overrides)
    return configs


async def test_registry_resolves_ids_with_slashes_and_caches_providers() -> None:
    registry = ProviderRegistry(default_configs(), Secrets(openrouter="sk-or", anthropic="sk-a"))
    provider, model = registry.resolve("openrouter/meta-llama/llama-3.1-8b-instruct")
    assert (provider.name, model) == ("openrouter", "meta-llama/llama-3.1-8b-instruct")
    assert isinstance(provider, OpenAICompatProvider)
    again, _ = registry.resolve("openrouter/openai/gpt-4o-mini")
    assert again is provider
    claude, model = registry.resolve("anthropic/claude-sonnet-4-5")
    assert (type(claude).__name__, model) == ("AnthropicProvider", "claude-sonnet-4-5")
    local, model = registry.resolve("ollama/qwen2.5:7b")  # local: no key needed
    assert (local.name, model) == ("ollama", "qwen2.5:7b")
    await registry.aclose()


async def test_resolving_from_worker_threads_shares_one_provider() -> None:
    registry = ProviderRegistry(default_configs(), Secrets())  # keyring lookups block
    found = await within(asyncio.gather(
        *(asyncio.to_thread(registry.resolve, "ollama/llama3.2") for _ in range(8))))
    assert len({id(provider) for provider, _ in found}) == 1
    await registry.aclose()


async def test_registry_unknown_provider_names_the_known_ones() -> None:
    registry = ProviderRegistry(default_configs(), Secrets())
    with pytest.raises(ModelError) as info:
        registry.resolve("mystery/model-1")
    assert info.value.kind == "not_found"
    assert info.value.message == (
        "unknown provider 'mystery' in model id 'mystery/model-1': known providers are "
        "anthropic, llamacpp, lmstudio, ollama, openai, openrouter "
        "(declare others as [providers.mystery] in config)")


@pytest.mark.parametrize("model_id", ["gpt-4o", "ollama/", "/llama3.2", ""])
def test_model_ids_need_a_provider_and_a_model(model_id: str) -> None:
    with pytest.raises(ModelError) as info:
        split_model_id(model_id)
    assert info.value.kind == "bad_request"
    assert "provider/model" in info.value.message


async def test_missing_key_for_a_remote_provider() -> None:
    secrets = Secrets()
    registry = ProviderRegistry(default_configs(), secrets)
    with pytest.raises(SecretMissing) as info:
        registry.resolve("anthropic/claude-sonnet-4-5")
    assert str(info.value) == ("no API key for anthropic: run `promptly secrets set anthropic` "
                               "or set ANTHROPIC_API_KEY")
    assert secret_env_var("my-proxy") == "MY_PROXY_API_KEY"
    secrets.values["anthropic"] = "sk-ant-now-set"  # `promptly secrets set`, no reload
    provider, _ = registry.resolve("anthropic/claude-sonnet-4-5")
    assert provider.name == "anthropic"
    await registry.aclose()


async def test_a_changed_key_builds_a_new_provider(server: OpenAIServer) -> None:
    secrets = Secrets(proxy="sk-first")
    registry = ProviderRegistry(
        {"proxy": config_for(server, name="proxy", api_key="proxy", local=False)}, secrets)
    first, _ = registry.resolve("proxy/m")
    await within(first.complete(ask()))
    secrets.values["proxy"] = "sk-second"
    second, _ = registry.resolve("proxy/m")
    assert second is not first
    await within(second.complete(ask()))
    await registry.aclose()
    keys = [r.headers["authorization"] for r in server.completion_requests]
    assert keys == ["Bearer sk-first", "Bearer sk-second"]


async def test_registry_applies_timeout_and_max_retries(server: OpenAIServer) -> None:
    config = ProviderConfig(name="slowpoke", kind="openai", base_url=server.base_url,
                            local=True, timeout_seconds=0.25, max_retries=1)
    sleeps = Sleeps()
    registry = ProviderRegistry({"slowpoke": config}, Secrets(), sleep=sleeps)
    server.script([slow(5), slow(5)])
    provider, _ = registry.resolve("slowpoke/m")
    policy = registry.retry_policy("slowpoke")
    assert policy.attempts == 2
    try:
        with pytest.raises(ModelError) as info:
            await within(policy.run(lambda: provider.complete(ask())))
    finally:
        await registry.aclose()
    assert info.value.kind == "timeout"
    assert info.value.message.endswith("(gave up after 2 attempts)")
    assert len(sleeps.delays) == 1
    assert len(server.completion_requests) == 2


def test_provider_kinds_are_a_registry_plugins_can_join() -> None:
    assert set(PROVIDER_KINDS) >= {"openai", "anthropic"}
    made: list[tuple[str, str | None]] = []

    class Echo:
        def __init__(self, config: ProviderConfig, api_key: str | None) -> None:
            self.name = config.name
            made.append((config.name, api_key))

        async def complete(self, request: ModelRequest) -> Any:
            raise NotImplementedError

        async def list_models(self) -> list[str]:
            return []

        async def aclose(self) -> None:
            pass

    register_provider_kind("echo-test", Echo)
    try:
        config = ProviderConfig(name="mine", kind="echo-test", base_url="http://x", api_key="k")
        registry = ProviderRegistry({"mine": config}, Secrets(k="secret"))
        provider, model = registry.resolve("mine/any/thing")
        assert isinstance(provider, Echo)
        assert (made, model) == ([("mine", "secret")], "any/thing")
        unknown = ProviderConfig(name="odd", kind="nope", base_url="http://x", local=True)
        with pytest.raises(ModelError, match="uses kind 'nope'"):
            ProviderRegistry({"odd": unknown}, Secrets()).resolve("odd/m")
    finally:
        del PROVIDER_KINDS["echo-test"]


def test_importing_the_package_does_not_import_the_sdks() -> None:
    import subprocess
    import sys

    code = ("import sys, promptlyd.providers; "
            "print('openai' in sys.modules, 'anthropic' in sys.modules, "
            "'aiohttp' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30, cwd=root)
    assert out.stdout.split() == ["False", "False", "False"]
