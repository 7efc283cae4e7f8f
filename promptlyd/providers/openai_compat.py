"""Any OpenAI-compatible endpoint (OpenAI, OpenRouter, Ollama, llama.cpp, LM Studio, vLLM).

Chat Completions with function calling, spoken directly over ``promptlyd.httpclient``
(``POST {base_url}/chat/completions``, ``GET {base_url}/models``): the wire format
is small and stable, and the OpenAI SDK cost 2.1 ms of CPU a request on loopback —
most of a run's budget at 500 runs a second — and half a second to import.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from promptlyd import httpclient, jsoncodec
from promptlyd.providers.base import (
    NO_KEY,
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
    from promptlyd.config import ProviderConfig

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


class OpenAICompatProvider:
    """A ``Provider`` over Chat Completions.

    ``max_tokens_field``: the request field that limits the answer. OpenAI's own API
    wants ``max_completion_tokens`` (its reasoning models reject ``max_tokens``);
    local servers and most proxies know ``max_tokens``. The default picks by host.
    """

    def __init__(
        self, config: ProviderConfig, api_key: str | None, *,
        max_tokens_field: str | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._ctx = ErrorContext.of(config, api_key)
        self._base = config.base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {api_key or NO_KEY}",
                         "content-type": "application/json", "accept": "application/json"}
        # proxies from the environment, as the SDKs honour them; redirects followed
        self._http = httpclient.HTTPClient(
            trust_env=True, follow_redirects=True,
            tls_now=config.base_url.lower().startswith("https://"))
        if max_tokens_field is None:
            official = "://api.openai.com" in config.base_url
            max_tokens_field = "max_completion_tokens" if official else "max_tokens"
        self.max_tokens_field = max_tokens_field

    @staticmethod
    def warm() -> None:
        """Import what the first request needs (blocking: from a worker thread)."""
        httpclient.warm()

    async def complete(self, request: ModelRequest) -> ModelResponse:
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
        completion = await self._call("POST", "/chat/completions", request.model,
                                      jsoncodec.dumps(params))
        return self._parse(completion, request)

    async def list_models(self) -> list[str]:
        """The server's ``GET …/models``."""
        listing = await self._call("GET", "/models", None, None)
        data = get_field(listing, "data")
        if not isinstance(data, list):
            raise self._ctx.bad_response("no data list in the models listing")
        return [model_id for item in data
                if isinstance(model_id := get_field(item, "id"), str)]

    async def _call(self, method: str, path: str, model: str | None,
                    body: bytes | None) -> object:
        """One request; its answer's JSON, or a ``ModelError`` saying what went wrong."""
        ctx = self._ctx
        try:
            answer = await self._http.request(method, self._base + path, body=body,
                                              headers=self._headers,
                                              timeout=self.config.timeout_seconds)
        except httpclient.HTTPFailure as exc:
            if exc.kind == "timeout":
                raise ctx.timeout_error() from exc
            if exc.kind == "too_large":
                raise ctx.bad_response(exc.message) from exc
            raise ctx.connection_error(exc.message) from exc
        try:
            parsed: object = jsoncodec.loads(answer.body)
        except ValueError as exc:  # orjson's and json's decode errors both
            if answer.status >= 400:
                parsed = answer.body.decode("utf-8", "replace").strip()
            elif not answer.body.strip():
                raise ctx.bad_response("an empty body where JSON was expected") from exc
            else:
                raise ctx.bad_response(f"not valid JSON: {exc}") from exc
        if answer.status >= 400:
            raise ctx.status_error(answer.status, parsed, answer.headers, model)
        if not isinstance(parsed, dict):
            raise ctx.bad_response(f"a JSON {type(parsed).__name__} where an object "
                                   "was expected")
        return parsed

    async def aclose(self) -> None:
        await self._http.aclose()

    def _parse(self, completion: object, request: ModelRequest) -> ModelResponse:
        ctx = self._ctx
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

