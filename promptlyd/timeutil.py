"""Instants as the API writes them: RFC 3339 UTC with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ms(dt: datetime) -> datetime:
    """``dt`` truncated to what ``iso`` keeps, so stored and in-memory instants agree."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def iso(dt: datetime) -> str:
    """``2019-12-27T18:11:19.117Z`` — always UTC, always milliseconds."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry a zone")
    if dt.utcoffset():
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_iso(text: str) -> datetime:
    """Parse an RFC 3339 instant (``Z`` or offset); naive text is refused."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return dt.astimezone(UTC)


def wall_clock(moment: datetime, zone: str | None, *, fallback_utc: bool = False) -> str:
    """``2026-12-02 07:30 CET``: ``moment`` on the wall clock of the IANA ``zone``, saying
    which; without a zone, or with one this machine does not know, in UTC
    (``fallback_utc``) or the local zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local: datetime | None = None
    if zone:
        try:
            local = moment.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            local = None
    if local is None:
        local = moment.astimezone(UTC) if fallback_utc else moment.astimezone()
    label = local.strftime("%Z") or local.strftime("UTC%z")
    return f"{local:%Y-%m-%d %H:%M} {label}"


def month_start(now: datetime, zone: str) -> datetime:
    """The first instant of ``now``'s calendar month in ``zone`` (budgets count per month)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
