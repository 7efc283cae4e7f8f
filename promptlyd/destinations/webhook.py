"""``type: "webhook"``: POST the run as JSON, signed as Standard Webhooks defines."""

from __future__ import annotations

import asyncio

import httpx

from promptlyd import __version__
from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.destinations.base import Attempt, Message, Outcome, SecretLookup
from promptlyd.destinations.render import webhook_body
from promptlyd.destinations.retry import classify_http
from promptlyd.destinations.signing import secret_key, sign
from promptlyd.errors import ConfigError

SECRET = "webhook"


class WebhookDestination:
    type = "webhook"

    def __init__(self, config: Config, secrets: SecretLookup, clock: Clock) -> None:
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def send(self, message: Message) -> Attempt:
        body = webhook_body(message)
        now = self.clock.now()
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": f"promptlyd/{__version__}",
            "webhook-id": message.message_id,
            "webhook-timestamp": str(timestamp),
        }
        secret = await asyncio.to_thread(self.secrets.get, SECRET)
        if secret:
            try:
                headers["webhook-signature"] = sign(secret_key(secret), message.message_id,
                                                    timestamp, body)
            except ConfigError as exc:
                return Attempt(Outcome.FINAL, None, exc.message)
        timeout = self.config.delivery.timeout_seconds
        try:
            response = await self._http().post(message.target, content=body, headers=headers,
                                               timeout=timeout)
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, None, f"the webhook did not answer within "
                                                f"{timeout:g} s ([delivery] timeout_seconds)")
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return Attempt(Outcome.RETRY, None, f"cannot reach the webhook: {reason}")
        return classify_http(response.status_code, response.headers, now,
                             "the webhook")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
