"""The tool loop (bounds, truncation, failures, records) and the retry policy behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from promptlyd.config import ProviderConfig
from promptlyd.providers import (
    ModelError,
    ModelRequest,
    RetryPolicy,
    ToolLoopExceeded,
    ToolSpec,
    UserMessage,
    run_conversation,
    truncate,
    with_retries,
)
from promptlyd.providers.openai_compat import OpenAICompatProvider
from promptlyd.providers.retry import backoff_delay
from tests.fakes.helpers import Sleeps, within
from tests.fakes.model_servers import (
    OpenAIServer,
    Recorded,
    Reply,
    dynamic,
    no_usage,
    reply,
    running,
    status,
    tool_call,
    tool_calls,
)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    for s in running(OpenAIServer()):
        yield s
        assert s.errors == []  # the fake itself never broke


@pytest.fixture
async def provider(server: OpenAIServer) -> AsyncIterator[OpenAICompatProvider]:
    config = ProviderConfig(name="ollama", kind="openai", base_url=server.base_url, local=True)
    p = OpenAICompatProvider(config, None)
    yield p
    await p.aclose()


REQUEST = ModelRequest(model="llama3.2", system="Use tools.", messages=[UserMessage("Go.")])


class Toolbox:
    """Tools with fixed outputs; ``fail`` names tools that raise."""

    def __init__(self, outputs: dict[str, str], fail: frozenset[str] = frozenset()) -> None:
        self.outputs = outputs
        self.fail = fail
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_message: str | None = None

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(name, f"the {name} tool", {"type": "object"}) for name in self.outputs]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        self.calls.append((name, arguments))
        if name in self.fail:
            raise PermissionError(self.fail_message or f"{name} is not allowed here")
        return self.outputs[name]


def tool_messages(request: Recorded) -> list[dict[str, Any]]:
    return [m for m in request.body["messages"] if m["role"] == "tool"]


# --- the loop ---------------------------------------------------------------------------

async def test_exceeding_max_rounds_fails_with_the_work_done(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.default = tool_call("look", {"again": True}, usage=(3, 2))
    tools = Toolbox({"look": "nothing yet"})
    with pytest.raises(ToolLoopExceeded) as info:
        await within(run_conversation(provider, REQUEST, tools, max_rounds=3,
                                      max_tool_output_chars=100))
    error = info.value
    assert error.message == ("the model still wanted tools after 3 rounds (max_tool_rounds); "
                             "raise it in config or simplify the task")
    assert error.kind == "bad_response" and not error.retryable
    assert isinstance(error, ModelError)
    assert len(server.completion_requests) == 4  # 3 tool rounds, then the 4th ask fails
    assert len(tools.calls) == 3
    partial = error.partial
    assert (partial.model_calls, partial.rounds, partial.input_tokens) == (4, 3, 12)
    assert [r.round for r in partial.tool_calls] == [1, 2, 3]


async def test_long_tool_output_is_truncated_with_a_visible_note(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_call("dump", {}), reply("ok")])
    result = await within(run_conversation(provider, REQUEST, Toolbox({"dump": "x" * 1000}),
                                           max_rounds=2, max_tool_output_chars=100))
    expected = "x" * 100 + "\n[truncated 900 chars]"
    [sent] = tool_messages(server.completion_requests[1])
    assert sent["content"] == expected
    assert result.tool_calls[0].output == expected


def test_truncate_leaves_short_output_alone() -> None:
    assert truncate("short", 5) == "short"
    assert truncate("longer", 5) == "longe\n[truncated 1 chars]"


async def test_a_failing_tool_is_reported_to_the_model_and_the_loop_goes_on(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_calls(("secret", {"id": 1}), ("public", {})), reply("did what I could")])
    tools = Toolbox({"secret": "", "public": "hello"}, fail=frozenset({"secret"}))
    result = await within(run_conversation(provider, REQUEST, tools, max_rounds=2,
                                           max_tool_output_chars=1000))
    assert result.text == "did what I could"
    assert [m["content"] for m in tool_messages(server.completion_requests[1])] == [
        "error: PermissionError: secret is not allowed here", "hello"]
    records = [r.to_dict() for r in result.tool_calls]
    assert [(r["name"], r["output"], r["error"]) for r in records] == [
        ("secret", None, "PermissionError: secret is not allowed here"),
        ("public", "hello", None)]
    assert all(isinstance(r["durationMs"], int) and r["durationMs"] >= 0 for r in records)


async def test_tool_outputs_and_errors_are_redacted_before_the_cut_and_the_record(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    from promptlyd.secrets import Redactor

    secret = "s3cret-value-77"
    server.script([tool_calls(("echo", {}), ("refuse", {})), reply("ok")])
    # the secret straddles the cut at 20 characters: redacting after truncation would
    # leave its first half in the record and the request
    tools = Toolbox({"echo": "x" * 12 + secret + "y" * 30, "refuse": ""},
                    fail=frozenset({"refuse"}))
    tools.fail_message = f"bad token {secret}"
    result = await within(run_conversation(provider, REQUEST, tools, max_rounds=2,
                                           max_tool_output_chars=20,
                                           redact=Redactor([secret]).redact))
    echo, refuse = result.tool_calls
    assert echo.output == "x" * 12 + "[redacte\n[truncated 32 chars]"
    assert echo.output_chars == 12 + len("[redacted]") + 30
    assert refuse.error == "PermissionError: bad token [redacted]"
    for request in server.requests:
        raw = request.raw.decode()
        assert "s3cret" not in raw, raw


async def test_tool_calls_without_tools_get_an_error_answer(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_call("imaginary", {}), reply("fine, no tools")])
    result = await within(run_conversation(provider, REQUEST, None, max_rounds=1,
                                           max_tool_output_chars=1000))
    assert result.text == "fine, no tools"
    [sent] = tool_messages(server.completion_requests[1])
    assert sent["content"] == "error: no tools are available in this run (asked for imaginary)"
    assert "tools" not in server.completion_requests[0].body


async def test_tokens_are_summed_and_any_estimate_is_flagged(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_call("a", {}, usage=(100, 10)), no_usage("done")])
    result = await within(run_conversation(provider, REQUEST, Toolbox({"a": "1"}),
                                           max_rounds=1, max_tool_output_chars=10))
    assert result.model_calls == 2
    assert result.usage_estimated is True
    assert result.input_tokens > 100 and result.output_tokens == 11  # 10 + "done" / 4
    assert result.tokens_used == result.input_tokens + result.output_tokens


async def test_the_model_sees_the_whole_conversation_each_round(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    def answer(request: Recorded) -> Reply:
        # Keep asking until two tool results came back, then report them.
        results = [m["content"] for m in request.body["messages"] if m["role"] == "tool"]
        if len(results) < 2:
            return tool_call("count", {"n": len(results)})
        return reply(" + ".join(results))

    server.default = dynamic(answer)
    counter = iter(["one", "two"])

    class Counter(Toolbox):
        async def call(self, name: str, arguments: dict[str, Any]) -> str:
            await super().call(name, arguments)
            return next(counter)

    tools = Counter({"count": ""})
    result = await within(run_conversation(provider, REQUEST, tools, max_rounds=5,
                                           max_tool_output_chars=100))
    assert result.text == "one + two"
    assert tools.calls == [("count", {"n": 0}), ("count", {"n": 1})]
    assert [len(r.body["messages"]) for r in server.completion_requests] == [2, 4, 6]


async def test_a_model_error_mid_conversation_keeps_the_partial_result(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_call("a", {}, usage=(7, 3)), status(400, message="context too long")])
    with pytest.raises(ModelError) as info:
        await within(run_conversation(provider, REQUEST, Toolbox({"a": "1"}), max_rounds=3,
                                      max_tool_output_chars=10))
    assert info.value.kind == "bad_request"
    assert "context too long" in info.value.message
    assert (info.value.partial.input_tokens, len(info.value.partial.tool_calls)) == (7, 1)


async def test_tool_loop_with_zero_rounds_allowed(
    server: OpenAIServer, provider: OpenAICompatProvider,
) -> None:
    server.script([tool_call("a", {})])
    tools = Toolbox({"a": "1"})
    with pytest.raises(ToolLoopExceeded, match="after 0 rounds"):
        await within(run_conversation(provider, REQUEST, tools, max_rounds=0,
                                      max_tool_output_chars=10))
    assert tools.calls == []


# --- retries (no server needed: the policy is pure over an injected sleep) ----------------

class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: ModelError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def err(kind: Any, retry_after: float | None = None) -> ModelError:
    return ModelError(f"{kind} trouble", kind=kind, provider="p", retry_after=retry_after)


async def test_retryable_kinds_are_retried_with_growing_delays() -> None:
    call = Flaky(err("server"), err("timeout"), err("connection"))
    sleeps = Sleeps()
    seen: list[int] = []
    result = await within(with_retries(
        call, attempts=4, base_delay=1, max_delay=3, sleep=sleeps, rand=lambda: 1.0,
        on_retry=lambda attempt, error, delay: seen.append(attempt)))
    assert (result, call.calls, seen) == ("answer", 4, [1, 2, 3])
    assert sleeps.delays == [1, 2, 3]  # 1, 2, 4→capped at 3 (rand=1: the top of the jitter)


@pytest.mark.parametrize("kind", ["auth", "bad_request", "not_found", "bad_response"])
async def test_other_kinds_are_not_retried(kind: str) -> None:
    call = Flaky(err(kind))
    sleeps = Sleeps()
    with pytest.raises(ModelError) as info:
        await within(with_retries(call, attempts=5, base_delay=1, max_delay=3, sleep=sleeps))
    assert (info.value.kind, info.value.message, call.calls) == (kind, f"{kind} trouble", 1)
    assert sleeps.delays == []


async def test_other_exceptions_pass_straight_through() -> None:
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await within(with_retries(broken, attempts=3, base_delay=1, max_delay=1,
                                  sleep=Sleeps()))
    assert calls == 1


def test_backoff_jitter_stays_within_half_to_full() -> None:
    error = err("server")
    low = backoff_delay(3, error, base_delay=2, max_delay=60, rand=lambda: 0.0)
    high = backoff_delay(3, error, base_delay=2, max_delay=60, rand=lambda: 1.0)
    assert (low, high) == (4.0, 8.0)
    assert backoff_delay(10, error, base_delay=2, max_delay=60, rand=lambda: 1.0) == 60


def test_retry_after_is_honoured_and_capped() -> None:
    assert backoff_delay(1, err("rate_limit", retry_after=7), base_delay=1, max_delay=30) == 7
    assert backoff_delay(1, err("rate_limit", retry_after=900), base_delay=1, max_delay=30) == 30


async def test_one_attempt_raises_the_error_unchanged() -> None:
    original = err("server")
    with pytest.raises(ModelError) as info:
        await within(with_retries(Flaky(original), attempts=1, base_delay=1, max_delay=1,
                                  sleep=Sleeps()))
    assert info.value is original


async def test_policy_counts_attempts_in_the_final_error() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=2, base_delay=0.5, max_delay=1, sleep=sleeps)
    with pytest.raises(ModelError) as info:
        await within(policy.run(Flaky(err("server"), err("server"), err("server"))))
    assert info.value.attempts == 2
    assert info.value.message == "server trouble (gave up after 2 attempts)"
    assert isinstance(info.value.__cause__, ModelError)
    assert len(sleeps.delays) == 1


async def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await within(with_retries(Flaky(), attempts=0, base_delay=1, max_delay=1))
