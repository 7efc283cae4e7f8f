"""Models: one neutral interface over the Anthropic and OpenAI-compatible APIs
(``base``, ``anthropic``, ``openai_compat``, ``sdk``), the registry from a model id
to its provider (``registry``), retries (``retry``), the bounded tool loop
(``toolloop``), the model catalog with prices (``catalog``) and the merge of the
catalog with what local servers offer (``discovery``).

Importing this package is cheap; the SDKs are imported when a provider first talks
to its server. Nothing here reads or writes the database.
"""

from __future__ import annotations

from promptlyd.providers.base import (
    RETRYABLE_KINDS,
    AssistantMessage,
    ErrorKind,
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    Provider,
    ToolCall,
    ToolResult,
    ToolResultsMessage,
    ToolSpec,
    UserMessage,
    secret_env_var,
)
from promptlyd.providers.registry import (
    PROVIDER_KINDS,
    ProviderFactory,
    ProviderRegistry,
    SecretLookup,
    register_provider_kind,
    split_model_id,
)
from promptlyd.providers.retry import NO_RETRY, RetryPolicy, with_retries
from promptlyd.providers.toolloop import (
    ConversationResult,
    ToolCallRecord,
    ToolExecutor,
    ToolLoopExceeded,
    run_conversation,
    truncate,
)

__all__ = [
    "NO_RETRY",
    "PROVIDER_KINDS",
    "RETRYABLE_KINDS",
    "AssistantMessage",
    "ConversationResult",
    "ErrorKind",
    "Message",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderFactory",
    "ProviderRegistry",
    "RetryPolicy",
    "SecretLookup",
    "ToolCall",
    "ToolCallRecord",
    "ToolExecutor",
    "ToolLoopExceeded",
    "ToolResult",
    "ToolResultsMessage",
    "ToolSpec",
    "UserMessage",
    "register_provider_kind",
    "run_conversation",
    "secret_env_var",
    "split_model_id",
    "truncate",
    "with_retries",
]
