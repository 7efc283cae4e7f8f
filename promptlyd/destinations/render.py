"""What each destination sends (pure): the webhook body, the email, the SMS text."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from promptlyd.destinations.base import Message

SMS_NOTE = "… [truncated; full output: promptly runs show {run}]"
SMS_NOTE_SHORT = "… [truncated]"


def webhook_body(message: Message) -> bytes:
    """``{"type", "timestamp", "data": {"task", "run"}}`` as compact UTF-8 JSON."""
    payload = {
        "type": message.event,
        "timestamp": message.timestamp.isoformat().replace("+00:00", "Z"),
        "data": {"task": dict(message.task), "run": dict(message.run)},
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _local_date(message: Message) -> str:
    zone = message.task.get("timezone") or "UTC"
    try:
        when = message.timestamp.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        when = message.timestamp
    return when.strftime("%Y-%m-%d")


def subject(message: Message) -> str:
    name = message.task.get("name", "task")
    if message.failed:
        return f"{name} failed — {_local_date(message)}"
    return f"{name} — {_local_date(message)}"


def _text(message: Message) -> str:
    if message.failed:
        error = message.run.get("error") or "unknown error"
        return f"The run of {message.task.get('name')!r} failed:\n\n{error}\n"
    return str(message.run.get("output") or "(the run produced no output)")


def email_message(message: Message, *, sender: str, reply_to: str | None) -> EmailMessage:
    """A text part (the Markdown as written) and an HTML part (it rendered)."""
    from markdown_it import MarkdownIt

    text = _text(message)
    footer = f"\n\n--\npromptly run {message.run.get('id')}"
    msg = EmailMessage()
    msg["Subject"] = subject(message)
    msg["From"] = sender
    msg["To"] = message.target
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(message.timestamp)
    msg["Message-ID"] = make_msgid(idstring=message.message_id, domain="promptlyd.local")
    msg["X-Promptly-Run"] = str(message.run.get("id"))
    msg.set_content(text + footer)
    source = f"```\n{text}\n```" if message.failed else text
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(source)
    msg.add_alternative(f"<!DOCTYPE html><html><body>{html}<hr><p><small>promptly run "
                        f"{message.run.get('id')}</small></p></body></html>", subtype="html")
    return msg


def sms_body(message: Message, max_length: int) -> str:
    """The task's name and the output (or error), cut to ``max_length`` with a note."""
    name = message.task.get("name", "task")
    head = f"{name} failed: " if message.failed else f"{name}: "
    text = head + (_text(message).strip() if not message.failed
                   else str(message.run.get("error") or "unknown error"))
    if len(text) <= max_length:
        return text
    note = SMS_NOTE.format(run=str(message.run.get("id", ""))[:8])
    if len(note) > max_length // 2:  # a short limit keeps room for the text
        note = SMS_NOTE_SHORT
    return text[: max(0, max_length - len(note))] + note


def payload_run(run: dict[str, Any]) -> dict[str, Any]:
    """The TaskRun as sent: without the delivery bookkeeping (it changes per attempt)."""
    return {k: v for k, v in run.items() if k not in ("deliveries", "deliveryStatus")}
