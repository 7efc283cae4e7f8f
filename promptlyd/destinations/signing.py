"""Standard Webhooks signatures (pure): ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``.

The secret is ``whsec_`` followed by the base64 of 24-64 random bytes; the key is
those bytes. ``webhook-timestamp`` is whole seconds since the epoch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from promptlyd.errors import ConfigError

PREFIX = "whsec_"


def generate_secret(nbytes: int = 32) -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ConfigError (never echoing it) when malformed."""
    text = secret.strip()
    text = text[len(PREFIX):] if text.startswith(PREFIX) else text
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("the webhook signing secret is not a whsec_… value (base64 after "
                          "the prefix); make one with `promptly secrets set webhook "
                          "--generate`") from exc
    if not key:
        raise ConfigError("the webhook signing secret is empty; make one with "
                          "`promptly secrets set webhook --generate`")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
