"""Real loopback peers for tests (model servers speaking the OpenAI and Anthropic APIs)."""
