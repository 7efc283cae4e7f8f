"""Warming the model SDKs in a worker thread at start-up.

Importing an SDK, building its first client (an HTTP client with a TLS
context) and parsing its first response (pydantic builds validators lazily)
costs about a second of CPU. Done on the event loop at the first due run, that
second makes every run due meanwhile late; done here, in a thread at start-up,
it is paid before anything is due.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger("promptlyd.providers")

_OPENAI_SAMPLE = {
    "id": "warm", "object": "chat.completion", "created": 0, "model": "warm",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
_ANTHROPIC_SAMPLE = {
    "id": "warm", "type": "message", "role": "assistant", "model": "warm",
    "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
}


def warm_sdks(kinds: Iterable[str]) -> None:
    for kind in sorted(set(kinds)):
        try:
            if kind == "openai":
                import openai
                from openai.types.chat import ChatCompletion

                openai.AsyncOpenAI(api_key="warm", base_url="http://127.0.0.1:9/v1")
                ChatCompletion.model_validate(_OPENAI_SAMPLE)
            elif kind == "anthropic":
                import anthropic
                from anthropic.types import Message

                anthropic.AsyncAnthropic(api_key="warm", base_url="http://127.0.0.1:9")
                Message.model_validate(_ANTHROPIC_SAMPLE)
        except Exception as exc:  # warming is an optimisation, never a failure
            log.warning("could not warm the %s SDK: %s", kind, exc)
