"""``type: "webhook"``: POST the run as JSON, signed as Standard Webhooks defines."""

from __future__ import annotations

import asyncio

from promptlyd import httpclient
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
        # no proxies from the environment, no redirects: the target is posted to as written
        self._http = httpclient.HTTPClient(trust_env=False, follow_redirects=False)

    async def send(self, message: Message) -> Attempt:
        body = webhook_body(message)
        now = self.clock.now()
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
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
            response = await self._http.request("POST", message.target, body=body,
                                                headers=headers, timeout=timeout,
                                                read_body=False)
        except httpclient.HTTPFailure as exc:
            if exc.kind == "timeout":
                return Attempt(Outcome.RETRY, None, f"the webhook did not answer within "
                                                    f"{timeout:g} s ([delivery] timeout_seconds)")
            return Attempt(Outcome.RETRY, None, f"cannot reach the webhook: {exc.message}")
        return classify_http(response.status, response.headers, now, "the webhook")

    async def aclose(self) -> None:
        await self._http.aclose()
