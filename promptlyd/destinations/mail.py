"""``type: "email"``: SMTP through aiosmtplib (``[smtp]`` config, password from secret
``smtp``), the Markdown output as a text and an HTML part.

SMTP replies map onto attempts: 4xx (and a dropped or timed-out connection)
retry, 5xx and a rejected login are final; the reply text is kept as the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from promptlyd.config import Config
from promptlyd.destinations.base import Attempt, Message, Outcome, SecretLookup
from promptlyd.destinations.render import email_message

SECRET = "smtp"


class EmailDestination:
    type = "email"

    def __init__(self, config: Config, secrets: SecretLookup, clock: Any = None) -> None:
        self.config = config
        self.secrets = secrets

    async def send(self, message: Message) -> Attempt:
        import aiosmtplib

        smtp = self.config.smtp
        if not smtp.host:
            return Attempt(Outcome.FINAL, None, "no SMTP server configured: set [smtp] host "
                                                "(and port, username, from) in the config")
        sender = smtp.sender or smtp.username
        if not sender:
            return Attempt(Outcome.FINAL, None, "no sender address: set [smtp] from in the "
                                                "config")
        password = None
        if smtp.username:
            password = await asyncio.to_thread(self.secrets.get, SECRET)
            if password is None:
                return Attempt(Outcome.FINAL, None, "no SMTP password - add one with "
                                                    "'promptly secrets set smtp' or set "
                                                    "SMTP_PASSWORD")
        email = email_message(message, sender=sender, reply_to=smtp.reply_to)
        try:
            errors, _reply = await aiosmtplib.send(
                email, hostname=smtp.host, port=smtp.port, username=smtp.username,
                password=password, use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",
                timeout=self.config.delivery.timeout_seconds,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # 454 and other 4xx: a temporary failure of the server's auth, worth a retry
            return Attempt(Outcome.RETRY if 400 <= exc.code < 500 else Outcome.FINAL,
                           str(exc.code),
                           f"the SMTP server rejected the login for {smtp.username}: "
                           f"{exc.code} {exc.message}; check [smtp] username and "
                           "`promptly secrets set smtp`")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            code = first.code if first else 550
            text = first.message if first else "refused"
            return _reply_attempt(code, f"the SMTP server refused the recipient: {code} {text}")
        except aiosmtplib.SMTPResponseException as exc:
            return _reply_attempt(exc.code, f"the SMTP server answered {exc.code} {exc.message}")
        except aiosmtplib.SMTPTimeoutError as exc:
            return Attempt(Outcome.RETRY, None, f"the SMTP server {smtp.host}:{smtp.port} timed "
                                                f"out: {exc}")
        except aiosmtplib.SMTPNotSupported as exc:
            return Attempt(Outcome.FINAL, None, f"the SMTP server {smtp.host}:{smtp.port} "
                                                f"cannot do what we need: {exc}")
        except aiosmtplib.SMTPException as exc:
            if "STARTTLS" in str(exc):  # retrying will not make the server offer it
                return Attempt(Outcome.FINAL, None, f"the SMTP server {smtp.host}:{smtp.port} "
                                                    "does not offer STARTTLS: set [smtp] security "
                                                    '= "tls" (port 465), or "none" only on a '
                                                    "network you trust")
            return Attempt(Outcome.RETRY, None, f"cannot deliver through {smtp.host}:"
                                                f"{smtp.port}: {exc}")
        except OSError as exc:
            return Attempt(Outcome.RETRY, None, f"cannot deliver through {smtp.host}:"
                                                f"{smtp.port}: {exc}")
        if errors:
            code, text = next(iter(errors.values()))
            return _reply_attempt(code, f"the SMTP server refused the recipient: {code} {text}")
        return Attempt(Outcome.SENT, "250", None)  # send() raises on any other reply

    async def aclose(self) -> None:
        return None


def _reply_attempt(code: int, detail: str) -> Attempt:
    outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.FINAL
    return Attempt(outcome, str(code), detail)
