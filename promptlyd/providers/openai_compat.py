"""Any OpenAI-compatible endpoint (OpenAI, OpenRouter, Ollama, llama.cpp, LM Studio, vLLM).

Chat Completions with function calling, through the ``openai`` SDK's ``AsyncOpenAI``
pointed at ``ProviderConfig.base_url``. The SDK is imported at first use, so
importing this module is cheap.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from promptlyd.providers.base import (
    AssistantMessage,
    ErrorContext,
    ModelError,
    ModelRequest,
    ModelResponse,
    ToolCall,
    UserMessage,
    get_field,
    parse_arguments,
    usage_or_estimate,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from promptlyd.config import ProviderConfig

from promptlyd.providers.sdk import SDKProvider

log = logging.getLogger(__name__)


def to_openai_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """Neutral messages → Chat Completions ``messages`` (system first, one per tool result)."""
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, AssistantMessage):
            item: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                item["tool_calls"] = [
                    {"id": call.id, "type": "function",
                     "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}
                    for call in message.tool_calls
                ]
            out.append(item)
        else:
            out.extend({"role": "tool", "tool_call_id": result.call_id, "content": result.output}
                       for result in message.results)
    return out


def to_openai_tools(request: ModelRequest) -> list[dict[str, Any]]:
    return [
        {"type": "function",
         "function": {"name": spec.name, "description": spec.description,
                      "parameters": spec.input_schema}}
        for spec in request.tools
    ]


class OpenAICompatProvider(SDKProvider):
    """A ``Provider`` over Chat Completions.

    ``max_tokens_field``: the request field that limits the answer. OpenAI's own API
    wants ``max_completion_tokens`` (its reasoning models reject ``max_tokens``);
    local servers and most proxies know ``max_tokens``. The default picks by host.
    """

    sdk_module = "openai"
    client_class = "AsyncOpenAI"

    def __init__(
        self, config: ProviderConfig, api_key: str | None, *,
        max_tokens_field: str | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._api_key = api_key
        self._ctx = ErrorContext.of(config, api_key)
        self._client: AsyncOpenAI | None = None
        if max_tokens_field is None:
            official = "://api.openai.com" in config.base_url
            max_tokens_field = "max_completion_tokens" if official else "max_tokens"
        self.max_tokens_field = max_tokens_field

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._sdk()
        params: dict[str, Any] = {
            "model": request.model,
            "messages": to_openai_messages(request),
            self.max_tokens_field: request.max_tokens,
        }
        if request.tools:
            params["tools"] = to_openai_tools(request)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        log.debug("%s: chat completion with model %s (%d messages, %d tools)",
                  self.name, request.model, len(params["messages"]), len(request.tools))
        completion: object = await self._call(
            lambda: client.chat.completions.create(**params), request.model)
        return self._parse(completion, request)

    def _parse(self, completion: object, request: ModelRequest) -> ModelResponse:
        ctx = self._ctx
        if isinstance(completion, str):
            return_type = "text" if completion.strip() else "an empty body"
            raise ctx.bad_response(f"{return_type} where a chat completion was expected")
        choices = get_field(completion, "choices")
        if not isinstance(choices, list) or not choices:
            raise ctx.bad_response("no choices in the chat completion")
        choice = choices[0]
        message = get_field(choice, "message")
        if message is None:
            raise ctx.bad_response("the first choice has no message")
        content = get_field(message, "content")
        text = content if isinstance(content, str) else ""
        tool_calls = self._tool_calls(get_field(message, "tool_calls"))
        usage = get_field(completion, "usage")
        input_tokens, output_tokens, estimated = usage_or_estimate(
            request, text, tool_calls,
            get_field(usage, "prompt_tokens"), get_field(usage, "completion_tokens"),
        )
        finish = get_field(choice, "finish_reason")
        raw_model = get_field(completion, "model")
        return ModelResponse(
            text=text,
            tool_calls=tool_calls,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            usage_estimated=estimated,
            stop_reason=finish if isinstance(finish, str) else None,
            raw_model=raw_model if isinstance(raw_model, str) else None,
        )

    def _tool_calls(self, raw: object) -> list[ToolCall]:
        if not isinstance(raw, list):
            return []
        calls: list[ToolCall] = []
        for number, item in enumerate(raw, start=1):
            function = get_field(item, "function")
            name = get_field(function, "name")
            if not isinstance(name, str) or not name:
                raise ModelError(
                    f"{self.name} asked for a tool call without a function name; "
                    "the model may not support tool calling — pick one that does",
                    kind="bad_response", provider=self.name)
            call_id = get_field(item, "id")
            arguments, error = parse_arguments(get_field(function, "arguments"))
            calls.append(ToolCall(
                id=call_id if isinstance(call_id, str) and call_id else f"call_{number}",
                name=name, arguments=arguments, arguments_error=error,
            ))
        return calls
