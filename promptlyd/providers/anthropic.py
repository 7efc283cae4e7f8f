"""Anthropic's Messages API through the ``anthropic`` SDK's ``AsyncAnthropic``.

The system prompt goes in the ``system`` parameter, tools carry ``input_schema``,
tool calls come back as ``tool_use`` blocks and go out again as ``tool_result``
blocks in a user turn. The SDK is imported at first use.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from promptlyd.providers.base import (
    AssistantMessage,
    ErrorContext,
    ModelRequest,
    ModelResponse,
    ToolCall,
    UserMessage,
    get_field,
    parse_arguments,
    usage_or_estimate,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

    from promptlyd.config import ProviderConfig

from promptlyd.providers.sdk import SDKProvider

log = logging.getLogger(__name__)

# The SDK warns (DeprecationWarning) on every call with a deprecated model; a daemon
# says so once in its log instead, and tests running with warnings as errors still pass.
_DEPRECATED_WARNING = r"The model '.*' is deprecated and will reach end-of-life"


def to_anthropic_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """Neutral messages → Messages API ``messages`` (the system prompt travels apart)."""
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, AssistantMessage):
            if not message.tool_calls:
                out.append({"role": "assistant", "content": message.text})
                continue
            blocks: list[dict[str, Any]] = []
            if message.text:
                blocks.append({"type": "text", "text": message.text})
            blocks.extend({"type": "tool_use", "id": call.id, "name": call.name,
                           "input": call.arguments} for call in message.tool_calls)
            out.append({"role": "assistant", "content": blocks})
        else:
            results: list[dict[str, Any]] = []
            for result in message.results:
                block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id,
                                         "content": result.output}
                if result.is_error:
                    block["is_error"] = True
                results.append(block)
            out.append({"role": "user", "content": results})
    return out


def to_anthropic_tools(request: ModelRequest) -> list[dict[str, Any]]:
    return [{"name": spec.name, "description": spec.description,
             "input_schema": spec.input_schema} for spec in request.tools]


_WARM_SAMPLE = {
    "id": "warm", "type": "message", "role": "assistant", "model": "warm",
    "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
}


class AnthropicProvider(SDKProvider):
    """A ``Provider`` over the Anthropic Messages API."""

    sdk_module = "anthropic"
    client_class = "AsyncAnthropic"

    def __init__(self, config: ProviderConfig, api_key: str | None) -> None:
        self.name = config.name
        self.config = config
        self._api_key = api_key
        self._ctx = ErrorContext.of(config, api_key)
        self._client: AsyncAnthropic | None = None
        self._deprecations_seen: set[str] = set()

    @staticmethod
    def warm() -> None:
        """Import the SDK, build a client and parse a sample answer (blocking)."""
        import anthropic
        from anthropic.types import Message

        anthropic.AsyncAnthropic(api_key="warm", base_url="http://127.0.0.1:9")
        Message.model_validate(_WARM_SAMPLE)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._sdk()
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": to_anthropic_messages(request),
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = to_anthropic_tools(request)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        self._note_deprecation(request.model)
        log.debug("%s: message with model %s (%d messages, %d tools)",
                  self.name, request.model, len(params["messages"]), len(request.tools))
        message: object = await self._call(lambda: client.messages.create(**params), request.model)
        return self._parse(message, request)

    def _note_deprecation(self, model: str) -> None:
        installed = any(
            action == "ignore" and getattr(message, "pattern", None) == _DEPRECATED_WARNING
            for action, message, *_ in warnings.filters)
        if not installed:  # (test runners reset the filters between tests)
            warnings.filterwarnings("ignore", message=_DEPRECATED_WARNING,
                                    category=DeprecationWarning)
        if model in self._deprecations_seen:
            return
        self._deprecations_seen.add(model)
        try:
            from anthropic._data import DEPRECATED_MODELS
        except ImportError:  # the SDK moved it: we only lose the log line
            return
        end_of_life = DEPRECATED_MODELS.get(model)
        if end_of_life:
            log.warning("%s: model %s is deprecated and reaches end-of-life on %s; "
                        "choose a newer model", self.name, model, end_of_life)

    def _parse(self, message: object, request: ModelRequest) -> ModelResponse:
        ctx = self._ctx
        if isinstance(message, str):
            raise ctx.bad_response("text where a message was expected")
        content = get_field(message, "content")
        if not isinstance(content, list):
            raise ctx.bad_response("no content blocks in the message")
        texts: list[str] = []
        tool_calls: list[ToolCall] = []
        for number, block in enumerate(content, start=1):
            kind = get_field(block, "type")
            if kind == "text":
                text = get_field(block, "text")
                if isinstance(text, str):
                    texts.append(text)
            elif kind == "tool_use":
                name = get_field(block, "name")
                if not isinstance(name, str) or not name:
                    raise ctx.bad_response("a tool_use block without a name")
                call_id = get_field(block, "id")
                arguments, error = parse_arguments(get_field(block, "input"))
                tool_calls.append(ToolCall(
                    id=call_id if isinstance(call_id, str) and call_id else f"toolu_{number}",
                    name=name, arguments=arguments, arguments_error=error,
                ))
            # thinking, server-tool and other blocks carry nothing we pass on
        text = "".join(texts)
        usage = get_field(message, "usage")
        reported_input = get_field(usage, "input_tokens")
        if isinstance(reported_input, int):
            # Prompt-cache reads and writes are input too, counted apart by the API.
            for extra in ("cache_creation_input_tokens", "cache_read_input_tokens"):
                cached = get_field(usage, extra)
                if isinstance(cached, int):
                    reported_input += cached
        input_tokens, output_tokens, estimated = usage_or_estimate(
            request, text, tool_calls, reported_input, get_field(usage, "output_tokens"),
        )
        stop = get_field(message, "stop_reason")
        raw_model = get_field(message, "model")
        return ModelResponse(
            text=text,
            tool_calls=tool_calls,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            usage_estimated=estimated,
            stop_reason=stop if isinstance(stop, str) else None,
            raw_model=raw_model if isinstance(raw_model, str) else None,
        )
