"""Schedule math (SPEC §4): validate schedule input, compute fire instants.

Everything here is pure: ``after`` / ``not_after`` are arguments, nothing reads
the clock or touches storage. Instants go in and come out timezone-aware; the
results are always UTC.

Wall-clock times are read in the spec's IANA zone and turned into instants
with ``fold=0``, which is exactly RFC 5545's rule:

* a wall time that does not exist that day (spring forward) fires at the same
  wall time shifted by the gap — 02:30 becomes 03:30 in New York, 02:15 becomes
  02:45 on Lord Howe Island (a 30-minute gap);
* a wall time that occurs twice (fall back) fires once, at its first occurrence.

``hourly`` counts elapsed time from its origin, so DST never doubles or drops
one of its runs. Cron expressions are matched against local wall-clock times;
two wall times that land on the same instant fire once.

Decisions the spec leaves open:

* Fields that the schedule kind does not use (``scheduleDays`` with ``once``,
  ``scheduledDate`` with ``daily`` …) are still checked for format — malformed
  input is always a 400 — but otherwise ignored, so a PATCH that changes
  ``schedule`` need not clear them. ``cronExpression`` overrides all of them.
* ``scheduleDays`` with ``daily`` restricts the days; all seven days, or none,
  means every day.
* Cron is standard 5-field cron: numbers, names (``jan``, ``mon``), ``*``,
  ranges ``a-b``, lists ``a,b`` and steps ``/n``, plus the ``@daily``-style
  macros. Quartz/Jenkins extensions (``L``, ``W``, ``#``, ``?``, ``H``),
  seconds and years fields, and ``@reboot`` are refused. When both
  day-of-month and day-of-week are restricted, either may match (classic cron).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

from promptlyd.errors import ValidationError

__all__ = [
    "MAX_INTERVAL_HOURS",
    "SCHEDULES",
    "TIME_PATTERN",
    "WEEKDAYS",
    "ScheduleError",
    "ScheduleSpec",
    "describe",
    "latest_fire",
    "next_fire",
    "parse_cron",
    "parse_date",
    "parse_days",
    "parse_interval",
    "parse_time",
    "parse_zone",
    "upcoming",
]

WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)
SCHEDULES: tuple[str, ...] = ("once", "hourly", "daily", "weekly")
DEFAULT_TIME = (9, 0)
MAX_INTERVAL_HOURS = 168  # one week

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
# Offsets are compared this far either side of an instant to size the window in
# which wall-clock order and instant order can disagree (a DST gap or overlap).
_PROBE = timedelta(hours=36)


class ScheduleError(ValidationError):
    """Malformed schedule input; ``field`` names the camelCase API field."""


# ---------------------------------------------------------------- validators

_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})")
# What parse_time accepts, as a JSON Schema pattern (for the API document).
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_YMD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_time(value: str, field: str = "scheduleTime") -> tuple[int, int]:
    """``"HH:MM"`` (24-hour, two digits each) → ``(hour, minute)``."""
    m = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ScheduleError(
            f"{field} must be HH:MM (24-hour, two digits each, e.g. '09:00'), got {value!r}",
            field=field,
        )
    hour, minute = int(m[1]), int(m[2])
    if hour > 23 or minute > 59:
        raise ScheduleError(
            f"{field} must be HH:MM between 00:00 and 23:59, got {value!r}", field=field
        )
    return hour, minute


_DAY_NAMES: dict[str, str] = {name: name for name in WEEKDAYS} | {
    name[:3]: name for name in WEEKDAYS
}


def parse_days(values: Sequence[str], field: str = "scheduleDays") -> tuple[str, ...]:
    """Day names (any case, full or three letters) → full names, deduplicated, in week order."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ScheduleError(
            f"{field} must be a list of day names such as ['monday', 'friday'], got {values!r}",
            field=field,
        )
    found: set[str] = set()
    for value in values:
        name = _DAY_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
        if name is None:
            raise ScheduleError(
                f"{field}: {value!r} is not a day of the week (monday … sunday, or mon … sun)",
                field=field,
            )
        found.add(name)
    return tuple(day for day in WEEKDAYS if day in found)


# Names ZoneInfo resolves that are not zones of the IANA database.
_NOT_IANA = frozenset({"localtime", "posixrules"})


@lru_cache(maxsize=1)
def _zone_names_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """An IANA zone name (``Europe/Berlin``) → its ``ZoneInfo``."""
    if isinstance(name, str) and name not in _NOT_IANA:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    hint = "e.g. 'Europe/Berlin'"
    if isinstance(name, str):
        suggestion = _zone_names_by_lower().get(name.strip().lower())
        if suggestion is not None and suggestion not in _NOT_IANA:
            hint = f"did you mean {suggestion!r}?"
    raise ScheduleError(f"{field}: unknown IANA timezone {name!r} ({hint})", field=field)


def parse_date(value: str, field: str = "scheduledDate") -> date:
    """``"YYYY-MM-DD"`` → ``date``."""
    if not isinstance(value, str) or _YMD.fullmatch(value) is None:
        raise ScheduleError(
            f"{field} must be a date as YYYY-MM-DD (e.g. '2026-03-08'), got {value!r}",
            field=field,
        )
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleError(f"{field}: {value!r} is not a calendar date ({exc})",
                            field=field) from exc


def parse_interval(value: int, field: str = "hourlyInterval") -> int:
    """A whole number of hours, 1 to 168."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_INTERVAL_HOURS
    ):
        raise ScheduleError(
            f"{field} must be a whole number of hours from 1 to {MAX_INTERVAL_HOURS}, "
            f"got {value!r}",
            field=field,
        )
    return value


# ---------------------------------------------------------------------- cron

_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = {n: i for i, n in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    start=1)}
_DOWS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, low, high, names) for the five fields, in order.
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DOWS),
)
_CRON_SHAPE = "'minute hour day-of-month month day-of-week', e.g. '30 2 * * 1-5'"
_DIGITS = re.compile(r"[0-9]+")
# Quartz/Jenkins tokens croniter knows but standard cron does not: L, 15W, 5#2, ?, H.
_EXTENSION = re.compile(r"\?|.*#.*|[0-9]*l|l[0-9]*|[0-9]+w|w[0-9]+|lw|[hr](\(.*)?")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February at its longest


def parse_cron(expr: str, field: str = "cronExpression") -> str:
    """Check a standard 5-field cron expression or macro; return it normalized.

    Normalized means lower case with single spaces, so equal schedules compare
    equal. The message of a refusal names the part that is wrong.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ScheduleError(
            f"{field} must be a 5-field cron expression {_CRON_SHAPE}, got {expr!r}"
            " (send null to use schedule/scheduleTime instead)",
            field=field,
        )
    text = expr.strip(" \t").lower()
    if text.startswith("@"):
        if text in _MACROS:
            return text
        if text == "@reboot":
            raise ScheduleError(
                f"{field}: '@reboot' is not supported — promptlyd fires on the clock, not"
                " at boot; use a 5-field expression or one of " + ", ".join(_MACROS),
                field=field,
            )
        raise ScheduleError(
            f"{field}: unknown cron macro {expr.strip()!r}; use one of " + ", ".join(_MACROS),
            field=field,
        )
    parts = re.split(r"[ \t]+", text)
    if len(parts) != len(_CRON_FIELDS):
        extra = " (no seconds or year field)" if len(parts) > len(_CRON_FIELDS) else ""
        raise ScheduleError(
            f"{field} {expr!r} has {len(parts)} fields; standard cron has 5: "
            f"{_CRON_SHAPE}{extra}",
            field=field,
        )
    for part, spec in zip(parts, _CRON_FIELDS, strict=True):
        _check_cron_field(part, *spec, field=field, expr=expr)
    normalized = " ".join(parts)
    try:
        expanded, _nth = croniter.expand(normalized)
    except CroniterError as exc:  # a gap between our grammar and croniter's
        raise ScheduleError(f"{field} {expr!r} is not valid cron: {exc}", field=field) from exc
    days, months, dows = expanded[2], expanded[3], expanded[4]
    if dows == ["*"] and days != ["*"] and months != ["*"]:
        longest = max(_MONTH_DAYS[int(m) - 1] for m in months)
        if min(int(d) for d in days) > longest:
            raise ScheduleError(
                f"{field} {expr!r} never fires: none of the days {parts[2]!r} occurs in"
                f" month(s) {parts[3]!r}",
                field=field,
            )
    return normalized


def _check_cron_field(
    text: str, name: str, low: int, high: int, names: dict[str, int], *, field: str, expr: str
) -> None:
    def fail(why: str) -> ScheduleError:
        return ScheduleError(f"{field} {expr!r}: {why}", field=field)

    def value(token: str) -> int:
        if _DIGITS.fullmatch(token):
            number = int(token)
            if not low <= number <= high:
                raise fail(f"{name} field '{token}' is out of range {low}-{high}")
            return number
        if token in names:
            return names[token]
        if _EXTENSION.fullmatch(token):
            raise fail(
                f"{name} field '{token}' uses non-standard cron syntax (L, W, #, ?, H); use"
                " numbers, names, '*', ranges 'a-b', lists 'a,b' and steps '/n'"
            )
        expected = f"a number {low}-{high}"
        if names:
            expected += " or a name such as " + " ".join(list(names)[:3])
        raise fail(f"{name} field '{token}' is not {expected}")

    for item in text.split(","):
        if not item:
            raise fail(f"{name} field {text!r} has an empty list item")
        base, slash, step = item.partition("/")
        if slash:
            span = high - low + 1 - (name == "day-of-week")  # 7 is Sunday again
            if not _DIGITS.fullmatch(step) or not 1 <= int(step) <= span:
                raise fail(f"{name} field step '/{step}' must be a whole number 1-{span}")
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        start = value(first)
        if dash:
            end = value(last)
            if name == "day-of-week" and end == 0:
                end = 7  # 'fri-sun' runs to the end of the week
            if end < start:
                raise fail(
                    f"{name} field range '{base}' runs backwards; split it, e.g. "
                    f"'{first}-{high},{low}-{last}'"
                )


# ------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class ScheduleSpec:
    """A task's schedule as the API stores it (SPEC §4).

    ``anchor`` is the aware instant the task was created or its schedule last
    set: ``once`` without a date fires relative to it, ``hourly`` without a
    time starts at its next whole minute, and ``weekly`` without days uses its
    weekday in ``timezone``. Fields the kind does not use are validated, then
    ignored; ``cron_expression`` overrides everything else.
    """

    schedule: str
    timezone: str
    anchor: datetime
    schedule_time: str | None = None
    schedule_days: tuple[str, ...] = ()
    hourly_interval: int | None = None
    scheduled_date: str | None = None
    cron_expression: str | None = None

    def validate(self) -> None:
        """Raise ``ScheduleError`` naming the first malformed field."""
        _trigger(self)


class _Trigger(Protocol):
    def next(self, after: datetime, inclusive: bool) -> datetime | None: ...
    def latest(self, not_after: datetime, not_before: datetime) -> datetime | None: ...
    def describe(self) -> str: ...


def next_fire(spec: ScheduleSpec, after: datetime, *, inclusive: bool = False) -> datetime | None:
    """The first fire instant after ``after`` (or at it, if ``inclusive``), in UTC.

    ``None`` when the schedule will never fire again (a ``once`` already past).
    """
    return _trigger(spec).next(_utc(after, "after"), inclusive)


def upcoming(
    spec: ScheduleSpec, after: datetime, n: int, *, inclusive: bool = False
) -> list[datetime]:
    """The next ``n`` fire instants, strictly increasing (fewer for ``once``)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    trigger = _trigger(spec)
    out: list[datetime] = []
    cursor: datetime | None = _utc(after, "after")
    while cursor is not None and len(out) < n:
        cursor = trigger.next(cursor, inclusive and not out)
        if cursor is not None:
            out.append(cursor)
    return out


def latest_fire(
    spec: ScheduleSpec, not_after: datetime, not_before: datetime
) -> datetime | None:
    """The latest fire instant in ``(not_before, not_after]``, or ``None``.

    For catch-up after downtime: only the latest missed slot runs. Cost does not
    grow with the number of slots in the window.
    """
    upper, lower = _utc(not_after, "not_after"), _utc(not_before, "not_before")
    if upper <= lower:
        return None
    return _trigger(spec).latest(upper, lower)


def describe(spec: ScheduleSpec) -> str:
    """A short human description for the CLI: ``daily at 09:00 (Europe/Berlin)``."""
    return _trigger(spec).describe()


# ------------------------------------------------------------------ internals


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _slack(zone: ZoneInfo, instant: datetime) -> timedelta:
    """How far wall-clock order may disagree with instant order near ``instant``."""
    offsets = [_offset(zone, instant + d) for d in (-_PROBE, timedelta(0), _PROBE)]
    return max(offsets) - min(offsets)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an instant."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time as an instant: gaps shift forward, overlaps take the first."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _hhmm(hour_minute: tuple[int, int]) -> str:
    return f"{hour_minute[0]:02d}:{hour_minute[1]:02d}"


def _passes(t: datetime, after: datetime, inclusive: bool) -> bool:
    return t > after or (inclusive and t == after)


def _trigger(spec: ScheduleSpec) -> _Trigger:
    """Validate and compile ``spec``; cached, as specs are frozen and usually hashable."""
    try:
        hash(spec)
    except TypeError:  # e.g. schedule_days given as a list
        return _compile(spec)
    return _compile_cached(spec)


def _compile(spec: ScheduleSpec) -> _Trigger:
    if spec.schedule not in SCHEDULES:
        raise ScheduleError(
            f"schedule must be one of {', '.join(SCHEDULES)}, got {spec.schedule!r}",
            field="schedule",
        )
    zone = parse_zone(spec.timezone)
    anchor = _utc(spec.anchor, "anchor")
    cron = None if spec.cron_expression is None else parse_cron(spec.cron_expression)
    at = None if spec.schedule_time is None else parse_time(spec.schedule_time)
    days = parse_days(spec.schedule_days or ())
    interval = 1 if spec.hourly_interval is None else parse_interval(spec.hourly_interval)
    on = None if spec.scheduled_date is None else parse_date(spec.scheduled_date)

    if cron is not None:
        return _Cron(zone, cron)
    if spec.schedule == "once":
        if on is not None:
            when = _instant(datetime.combine(on, time(*(at or DEFAULT_TIME))), zone)
        elif at is not None:
            day = _wall(anchor, zone).date() - _DAY
            while (when := _instant(datetime.combine(day, time(*at)), zone)) < anchor:
                day += _DAY
        else:
            when = anchor
        return _Once(zone, when)
    if spec.schedule == "hourly":
        if at is not None:
            origin = _instant(datetime.combine(_wall(anchor, zone).date(), time(*at)), zone)
        else:
            origin = anchor.replace(second=0, microsecond=0)
            if origin != anchor:
                origin += _MINUTE
        return _Hourly(zone, origin, interval)
    weekdays = frozenset(WEEKDAYS.index(d) for d in days)
    if spec.schedule == "weekly":
        weekdays = weekdays or frozenset({_wall(anchor, zone).weekday()})
        return _Days(zone, at or DEFAULT_TIME, weekdays, "weekly")
    return _Days(zone, at or DEFAULT_TIME, weekdays or frozenset(range(7)), "daily")


_compile_cached = lru_cache(maxsize=512)(_compile)


class _Once:
    def __init__(self, zone: ZoneInfo, when: datetime) -> None:
        self.zone, self.when = zone, when

    def next(self, after: datetime, inclusive: bool) -> datetime | None:
        return self.when if _passes(self.when, after, inclusive) else None

    def latest(self, not_after: datetime, not_before: datetime) -> datetime | None:
        return self.when if not_before < self.when <= not_after else None

    def describe(self) -> str:
        return f"once at {_wall(self.when, self.zone):%Y-%m-%d %H:%M} ({self.zone.key})"


class _Hourly:
    """Fires at ``origin + k * interval`` hours for every integer ``k``."""

    def __init__(self, zone: ZoneInfo, origin: datetime, interval: int) -> None:
        self.zone, self.origin, self.interval = zone, origin, interval
        self.period = timedelta(hours=interval)

    def next(self, after: datetime, inclusive: bool) -> datetime | None:
        k, rest = divmod(after - self.origin, self.period)
        if rest or not inclusive:
            k += 1
        return self.origin + k * self.period

    def latest(self, not_after: datetime, not_before: datetime) -> datetime | None:
        k = (not_after - self.origin) // self.period
        t = self.origin + k * self.period
        return t if t > not_before else None

    def describe(self) -> str:
        every = "every hour" if self.interval == 1 else f"every {self.interval} hours"
        return f"{every} from {_wall(self.origin, self.zone):%H:%M} ({self.zone.key})"


class _Days:
    """A wall time on chosen weekdays: ``daily`` and ``weekly``.

    Local dates map to instants in order (each day's instant is later than the
    previous day's unless a zone skips a whole day), so scanning dates forwards
    or backwards finds the first or last matching instant directly.
    """

    def __init__(
        self, zone: ZoneInfo, at: tuple[int, int], weekdays: frozenset[int], kind: str
    ) -> None:
        self.zone, self.at, self.weekdays, self.kind = zone, time(*at), weekdays, kind

    def _on(self, day: date) -> datetime:
        return _instant(datetime.combine(day, self.at), self.zone)

    def next(self, after: datetime, inclusive: bool) -> datetime | None:
        day = _wall(after, self.zone).date() - 2 * _DAY
        for _ in range(14):
            if day.weekday() in self.weekdays and _passes(t := self._on(day), after, inclusive):
                return t
            day += _DAY
        raise AssertionError("unreachable: every week has a due day")  # pragma: no cover

    def latest(self, not_after: datetime, not_before: datetime) -> datetime | None:
        day = _wall(not_after, self.zone).date() + 2 * _DAY
        for _ in range(14):
            if day.weekday() in self.weekdays and (t := self._on(day)) <= not_after:
                return t if t > not_before else None
            day -= _DAY
        raise AssertionError("unreachable: every week has a due day")  # pragma: no cover

    def describe(self) -> str:
        at = _hhmm((self.at.hour, self.at.minute))
        names = ", ".join(WEEKDAYS[d] for d in sorted(self.weekdays))
        if self.kind == "weekly":
            return f"weekly on {names} at {at} ({self.zone.key})"
        on = "" if len(self.weekdays) == 7 else f" on {names}"
        return f"daily at {at}{on} ({self.zone.key})"


class _Cron:
    """A cron expression matched on naive local wall times, mapped with ``fold=0``.

    Near a DST gap, wall order and instant order disagree (02:40 after a 30-minute
    gap is earlier than 02:20 shifted into 02:50), so once a candidate is found the
    scan goes on for the size of the disagreement and keeps the best instant.
    """

    def __init__(self, zone: ZoneInfo, expr: str) -> None:
        self.zone, self.expr = zone, expr

    def next(self, after: datetime, inclusive: bool) -> datetime | None:
        start = _wall(after, self.zone) - _slack(self.zone, after) - _MINUTE
        walls = croniter(self.expr, start)
        best: datetime | None = None
        stop: datetime | None = None
        while True:
            try:
                wall: datetime = walls.get_next(datetime)
            except CroniterBadDateError:  # no match for decades
                return best
            if stop is not None and wall > stop:
                return best
            t = _instant(wall, self.zone)
            if _passes(t, after, inclusive) and (best is None or t < best):
                best = t
                if stop is None:
                    slack = _slack(self.zone, t)
                    if not slack:
                        return best
                    stop = wall + slack

    def latest(self, not_after: datetime, not_before: datetime) -> datetime | None:
        start = _wall(not_after, self.zone) + _slack(self.zone, not_after) + _MINUTE
        walls = croniter(self.expr, start)
        best: datetime | None = None
        stop: datetime | None = None
        while True:
            try:
                wall: datetime = walls.get_prev(datetime)
            except CroniterBadDateError:
                break
            if stop is not None and wall < stop:
                break
            t = _instant(wall, self.zone)
            if t <= not_after and (best is None or t > best):
                best = t
                if stop is None:
                    slack = _slack(self.zone, t)
                    if not slack:
                        break
                    stop = wall - slack
        return best if best is not None and best > not_before else None

    def describe(self) -> str:
        return f"cron '{self.expr}' ({self.zone.key})"
