"""``type: "sms"``: Twilio's Messages API shape (``[sms]`` config, token from secret
``sms``): ``POST {base_url}/Accounts/{sid}/Messages.json`` with To, From and Body."""

from __future__ import annotations

import asyncio

import httpx

from promptlyd import __version__
from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.destinations.base import Attempt, Message, Outcome, SecretLookup
from promptlyd.destinations.render import sms_body
from promptlyd.destinations.retry import classify_http

SECRET = "sms"


class SmsDestination:
    type = "sms"

    def __init__(self, config: Config, secrets: SecretLookup, clock: Clock) -> None:
        self.config = config
        self.secrets = secrets
        self.clock = clock
        self._client: httpx.AsyncClient | None = None

    async def send(self, message: Message) -> Attempt:
        sms = self.config.sms
        if not sms.account_sid or not sms.sender:
            return Attempt(Outcome.FINAL, None, "SMS is not configured: set [sms] account_sid "
                                                "and from in the config")
        token = await asyncio.to_thread(self.secrets.get, SECRET)
        if token is None:
            return Attempt(Outcome.FINAL, None, "no SMS auth token - add one with "
                                                "'promptly secrets set sms' or set SMS_API_KEY")
        url = f"{sms.base_url.rstrip('/')}/Accounts/{sms.account_sid}/Messages.json"
        form = {"To": message.target, "From": sms.sender,
                "Body": sms_body(message, sms.max_length)}
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)
        timeout = self.config.delivery.timeout_seconds
        try:
            response = await self._client.post(
                url, data=form, auth=(sms.account_sid, token), timeout=timeout,
                headers={"user-agent": f"promptlyd/{__version__}"})
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, None, f"the SMS provider did not answer within "
                                                f"{timeout:g} s ([delivery] timeout_seconds)")
        except httpx.HTTPError as exc:
            return Attempt(Outcome.RETRY, None, f"cannot reach the SMS provider: "
                                                f"{exc or type(exc).__name__}")
        attempt = classify_http(response.status_code, response.headers, self.clock.now(),
                                "the SMS provider")
        if attempt.outcome is not Outcome.SENT:
            reason = _provider_message(response)
            if reason:
                attempt = Attempt(attempt.outcome, attempt.code, f"{attempt.detail}: {reason}",
                                  attempt.retry_after_seconds)
        return attempt

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _provider_message(response: httpx.Response) -> str | None:
    """Twilio's error body: ``{"code": …, "message": …}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return None
