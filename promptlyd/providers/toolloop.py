"""The conversation a run has with its model: call, run the tools it asks for, repeat.

Bounded: at most ``max_rounds`` rounds of tool calls (config ``max_tool_rounds``);
each tool's output is cut to ``max_tool_output_chars`` with a visible note. A tool
that raises does not end the run: the model is told what went wrong and may try
something else. Every call is recorded for the run. ``redact`` (the key store's
redactor) is applied to every tool output and error before it is recorded or sent:
a server that echoes our credential does not pass it on.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from promptlyd.providers.base import (
    AssistantMessage,
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    Provider,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    ToolSpec,
)
from promptlyd.providers.retry import NO_RETRY, RetryPolicy

log = logging.getLogger(__name__)


class ToolExecutor(Protocol):
    """The tools of a run's sources, as one namespace."""

    def specs(self) -> list[ToolSpec]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run tool ``name``; raising is fine, the model gets the error as the result."""
        ...

    async def aclose(self) -> None:
        """Release what the run's tools hold (connections, child processes)."""
        ...


@dataclass(frozen=True)
class ToolCallRecord:
    round: int  # 1-based tool round
    name: str
    arguments: dict[str, Any]
    output: str | None  # what the model got back (after truncation); None on error
    error: str | None
    duration_ms: int
    origin: tuple[str, str] | None = None  # (source id, the source's own tool name)
    output_chars: int | None = None  # size of the tool's output before truncation

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored on the run (camelCase, as the API speaks)."""
        out = {"round": self.round, "name": self.name, "arguments": self.arguments,
               "output": self.output, "error": self.error, "durationMs": self.duration_ms,
               "outputChars": self.output_chars}
        if self.origin is not None:
            out["sourceId"], out["tool"] = self.origin
        return out


@dataclass
class ConversationResult:
    text: str = ""
    input_tokens: int = 0  # summed over every model call
    output_tokens: int = 0
    usage_estimated: bool = False  # any call's usage was estimated
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    model_calls: int = 0  # successful model calls
    retries: int = 0  # attempts that failed and were retried
    rounds: int = 0  # tool rounds run
    raw_model: str | None = None  # as the server reported it, last call

    @property
    def tokens_used(self) -> int:
        return self.input_tokens + self.output_tokens

    def _add(self, response: ModelResponse) -> None:
        self.model_calls += 1
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens
        self.usage_estimated = self.usage_estimated or response.usage_estimated
        self.raw_model = response.raw_model or self.raw_model


class ToolLoopExceeded(ModelError):
    """The model still wanted tools when the round limit was reached."""

    def __init__(self, max_rounds: int, *, provider: str | None = None) -> None:
        super().__init__(
            f"the model still wanted tools after {max_rounds} rounds (max_tool_rounds); "
            "raise it in config or simplify the task",
            kind="bad_response", provider=provider)
        self.max_rounds = max_rounds


def _as_is(text: str) -> str:
    return text


def truncate(output: str, limit: int) -> str:
    """``output`` cut to ``limit`` characters, with a note saying how much was dropped."""
    if len(output) <= limit:
        return output
    return f"{output[:limit]}\n[truncated {len(output) - limit} chars]"


async def run_conversation(
    provider: Provider,
    request: ModelRequest,
    tools: ToolExecutor | None,
    *,
    max_rounds: int,
    max_tool_output_chars: int,
    retry: RetryPolicy = NO_RETRY,
    clock: Callable[[], float] = time.perf_counter,
    redact: Callable[[str], str] = _as_is,
) -> ConversationResult:
    """Talk to the model until it answers without asking for tools.

    The tools offered are ``tools.specs()`` (``request.tools`` when ``tools`` is None).
    Raises ``ModelError`` (after ``retry``) or ``ToolLoopExceeded``; either carries the
    work done so far as ``.partial`` (a ``ConversationResult``).
    """
    result = ConversationResult()
    messages: list[Message] = list(request.messages)
    specs = tools.specs() if tools is not None else request.tools
    current = replace(request, tools=specs, messages=messages)

    def count_retry(attempt: int, error: ModelError, delay: float) -> None:
        result.retries += 1

    try:
        while True:
            snapshot = replace(current, messages=list(messages))
            response = await retry.run(functools.partial(provider.complete, snapshot),
                                      on_retry=count_retry)
            result._add(response)
            if not response.tool_calls:
                result.text = response.text
                return result
            if result.rounds >= max_rounds:
                raise ToolLoopExceeded(max_rounds, provider=provider.name)
            result.rounds += 1
            origins = {spec.name: spec.origin for spec in specs}
            outputs = [await _run_tool(tools, call, result.rounds, max_tool_output_chars,
                                       clock, result.tool_calls, origins.get(call.name),
                                       redact)
                       for call in response.tool_calls]
            messages.append(AssistantMessage(response.text, list(response.tool_calls)))
            messages.append(ToolResultsMessage(outputs))
    except ModelError as exc:
        exc.partial = result
        raise


async def _run_tool(
    tools: ToolExecutor | None, call: ToolCall, round_number: int, limit: int,
    clock: Callable[[], float], records: list[ToolCallRecord],
    origin: tuple[str, str] | None = None, redact: Callable[[str], str] = _as_is,
) -> ToolResult:
    started = clock()
    output: str | None = None
    error: str | None = None
    size: int | None = None
    if call.arguments_error is not None:
        error = f"invalid arguments for {call.name}: {call.arguments_error}"
    elif tools is None:
        error = f"no tools are available in this run (asked for {call.name})"
    else:
        try:
            raw = await tools.call(call.name, call.arguments)
        except Exception as exc:  # a broken tool is news for the model, not a crash
            error = redact(f"{type(exc).__name__}: {exc}")
            log.debug("tool %s failed: %s", call.name, error)
        else:
            text = redact(raw if isinstance(raw, str) else str(raw))
            size = len(text)
            output = truncate(text, limit)
    duration_ms = round((clock() - started) * 1000)
    records.append(ToolCallRecord(round_number, call.name, call.arguments, output, error,
                                  duration_ms, origin, size))
    log.debug("tool %s in round %d took %d ms%s", call.name, round_number, duration_ms,
              " (failed)" if error else "")
    if error is not None:
        return ToolResult(call.id, call.name, truncate(f"error: {error}", limit), is_error=True)
    assert output is not None
    return ToolResult(call.id, call.name, output)
