"""The neutral model interface every provider speaks, and its one error type.

A run talks to a model through :class:`Provider`: it builds a :class:`ModelRequest`
out of neutral :data:`Message` values and gets a :class:`ModelResponse` back. Each
wire protocol (OpenAI Chat Completions, Anthropic Messages) translates at its own
edge; nothing outside ``promptlyd.providers`` imports an SDK.

Errors::

    PromptlydError
    └── ModelError                 kind: auth | rate_limit | server | timeout |
        │                                connection | bad_response | bad_request | not_found
        └── ToolLoopExceeded       (toolloop.py) the model kept asking for tools

SDK exceptions are mapped to ``ModelError`` at the provider boundary
(``raise … from exc``); the message says what happened and what to do about it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from promptlyd.errors import PromptlydError

if TYPE_CHECKING:
    from promptlyd.config import ProviderConfig

ErrorKind: TypeAlias = Literal[
    "auth", "rate_limit", "server", "timeout", "connection", "bad_response", "bad_request",
    "not_found",
]
# Kinds worth another attempt: the same request may well succeed a moment later.
RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection"})

# Sent to servers that need no key (Ollama, llama.cpp, LM Studio): the SDKs insist on one.
NO_KEY = "sk-no-key"


# --- requests and responses ---------------------------------------------------

@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model; ``input_schema`` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]
    # (source id, the source's own tool name) when a source offers it; recorded per call
    origin: tuple[str, str] | None = None


@dataclass(frozen=True)
class ToolCall:
    """The model asking for one tool call.

    ``arguments_error`` is set (and ``arguments`` is empty) when the model sent
    arguments that are not a JSON object; the tool loop reports that back to the
    model instead of calling the tool.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_error: str | None = None


@dataclass(frozen=True)
class UserMessage:
    text: str


@dataclass(frozen=True)
class AssistantMessage:
    """What the model said before: text, and the tool calls it asked for."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    output: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolResultsMessage:
    """The answers to every tool call of the preceding assistant message."""

    results: list[ToolResult]


Message: TypeAlias = UserMessage | AssistantMessage | ToolResultsMessage


@dataclass(frozen=True)
class ModelRequest:
    model: str  # the provider-local name: "llama3.2", not "ollama/llama3.2"
    system: str | None
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int = 4096
    temperature: float | None = None


@dataclass(frozen=True)
class ModelResponse:
    text: str
    tool_calls: list[ToolCall]
    input_tokens: int
    output_tokens: int
    usage_estimated: bool  # the server reported no usage; counts are chars/4
    stop_reason: str | None  # the provider's own word ("stop", "end_turn", "tool_use" …)
    raw_model: str | None  # the model name the server says answered


class Provider(Protocol):
    """One configured model endpoint (``[providers.NAME]``)."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model call, no retries (see retry.py); failures raise ``ModelError``."""
        ...

    async def list_models(self) -> list[str]:
        """The provider-local model names the server offers."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...


# --- errors -------------------------------------------------------------------

class ModelError(PromptlydError):
    """A model call failed; ``kind`` says how, the message says what to do."""

    type = "model_error"

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        provider: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.provider = provider
        self.status_code = status_code
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said
        self.attempts = 1  # set by with_retries when it gives up
        # What a conversation had done when this error ended it (toolloop.ConversationResult),
        # so a failed run can still record tokens spent and tool calls made.
        self.partial: Any = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def with_message(self, message: str) -> ModelError:
        """A copy with another message (same kind, provider, status and retry hint)."""
        new = ModelError(message, kind=self.kind, provider=self.provider,
                         status_code=self.status_code, retry_after=self.retry_after)
        new.attempts = self.attempts
        new.partial = self.partial
        return new


def secret_env_var(secret_name: str) -> str:
    """The env var the secret store reads first: ``anthropic`` → ``ANTHROPIC_API_KEY``."""
    from promptlyd.secrets import env_var_names  # the store's own rule, so messages agree

    return env_var_names(secret_name)[0]


@dataclass(frozen=True)
class ErrorContext:
    """What a provider knows when it turns an SDK exception into a ``ModelError``."""

    provider: str
    base_url: str
    secret_name: str | None
    timeout_seconds: float
    api_key: str | None = None  # only used to scrub it from server text

    @classmethod
    def of(cls, config: ProviderConfig, api_key: str | None) -> ErrorContext:
        return cls(config.name, config.base_url, config.api_key, config.timeout_seconds, api_key)

    def scrub(self, text: str) -> str:
        if self.api_key and len(self.api_key) >= 8:
            text = text.replace(self.api_key, "[redacted]")
        return text

    def _error(self, message: str, kind: ErrorKind, **extra: Any) -> ModelError:
        return ModelError(self.scrub(message), kind=kind, provider=self.provider, **extra)

    def status_error(
        self, status: int, body: object, headers: Mapping[str, str] | None, model: str | None
    ) -> ModelError:
        """Map an HTTP error status (and the server's own words) to a ``ModelError``."""
        name = self.provider
        said = server_message(body)
        detail = f"{status}: {said}" if said else str(status)
        retry_after = parse_retry_after(headers)
        extra: dict[str, Any] = {"status_code": status, "retry_after": retry_after}
        if status == 401:
            if self.secret_name:
                fix = f"check it with `promptly secrets set {self.secret_name}`"
            else:
                fix = (f"set api_key = \"{name}\" under [providers.{name}] in config "
                       f"and store the key with `promptly secrets set {name}`")
            return self._error(f"{name} rejected the API key ({detail}): {fix}", "auth", **extra)
        if status == 403:
            return self._error(
                f"{name} refused access ({detail}): the API key lacks permission"
                + (f" for model {model!r}" if model else "")
                + "; check the key's permissions or choose another model", "auth", **extra)
        if status == 404:
            what = f"model {model!r}" if model else "the request"
            return self._error(
                f"{name} does not know {what} ({detail}): check the model name and the "
                f"provider's base_url ({self.base_url})", "not_found", **extra)
        if status == 408:
            return self._error(f"{name} timed out handling the request ({detail}): "
                               "try again later", "timeout", **extra)
        if status == 429:
            return self._error(
                f"{name} is rate-limiting requests ({detail}): wait a little, lower "
                "max_concurrent_runs, or check the account's quota", "rate_limit", **extra)
        if status >= 500:
            return self._error(
                f"{name} had a server error ({detail}): the provider is having trouble; "
                "try again later", "server", **extra)
        if status == 402:
            return self._error(f"{name} wants payment ({detail}): add credit to the account",
                               "bad_request", **extra)
        return self._error(f"{name} rejected the request ({detail})", "bad_request", **extra)

    def timeout_error(self) -> ModelError:
        name = self.provider
        return self._error(
            f"{name} did not answer within {self.timeout_seconds:g} s: the server is slow or "
            f"stuck; raise timeout_seconds under [providers.{name}] or use a smaller model",
            "timeout")

    def connection_error(self, reason: str) -> ModelError:
        return self._error(
            f"cannot reach {self.provider} at {self.base_url} ({reason}): is the server "
            f"running, and is base_url under [providers.{self.provider}] right?", "connection")

    def bad_response(self, what: str) -> ModelError:
        return self._error(
            f"{self.provider} sent a response we cannot use ({what}): is {self.base_url} "
            "really the endpoint for this provider's protocol?", "bad_response")


def server_message(body: object, limit: int = 300) -> str:
    """The human part of an error body, in either API's shape, cut to ``limit`` chars."""
    said: object = None
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            said = inner.get("message")
        elif isinstance(inner, str):
            said = inner
        if said is None:
            said = body.get("message")
    elif isinstance(body, str):
        said = body
    if not isinstance(said, str):
        return ""
    said = " ".join(said.split())
    return said if len(said) <= limit else said[: limit - 1] + "…"


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            seconds = float(value) / 1000
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
        return max(0.0, seconds)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# --- helpers shared by the wire adapters ---------------------------------------

def get_field(obj: object, name: str) -> object:
    """``obj.name`` for SDK models, ``obj[name]`` for dicts the SDK left unparsed, else None."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for servers that report no usage."""
    return (len(text) + 3) // 4


def request_text(request: ModelRequest) -> str:
    """Everything a request sends the model, flattened, for usage estimates."""
    parts: list[str] = [request.system or ""]
    for message in request.messages:
        if isinstance(message, UserMessage):
            parts.append(message.text)
        elif isinstance(message, AssistantMessage):
            parts.append(message.text)
            parts.extend(call.name + json.dumps(call.arguments) for call in message.tool_calls)
        else:
            parts.extend(result.output for result in message.results)
    for spec in request.tools:
        parts.append(spec.name + spec.description + json.dumps(spec.input_schema))
    return "".join(parts)


def response_text(text: str, tool_calls: list[ToolCall]) -> str:
    return text + "".join(call.name + json.dumps(call.arguments) for call in tool_calls)


def usage_or_estimate(
    request: ModelRequest, text: str, tool_calls: list[ToolCall],
    input_tokens: object, output_tokens: object,
) -> tuple[int, int, bool]:
    """The reported counts, or chars/4 estimates for whichever is missing (flagged)."""
    estimated = False
    if not isinstance(input_tokens, int) or isinstance(input_tokens, bool):
        input_tokens = estimate_tokens(request_text(request))
        estimated = True
    if not isinstance(output_tokens, int) or isinstance(output_tokens, bool):
        output_tokens = estimate_tokens(response_text(text, tool_calls))
        estimated = True
    return input_tokens, output_tokens, estimated


def parse_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """Tool-call arguments as a dict, or ``({}, why)`` when they are not a JSON object."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None
    if not isinstance(raw, str):
        return {}, f"arguments must be a JSON object, got {type(raw).__name__}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None
