"""Schedule math: validators (unit) and fire-time properties (Hypothesis).

DST table tests with literal instants live in ``test_schedule_dst.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlyd.errors import ValidationError
from promptlyd.scheduling.triggers import (
    SCHEDULES,
    WEEKDAYS,
    ScheduleError,
    ScheduleSpec,
    describe,
    latest_fire,
    next_fire,
    parse_cron,
    parse_date,
    parse_days,
    parse_interval,
    parse_time,
    parse_zone,
    upcoming,
)

ZONES = (
    "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata",
    "Pacific/Chatham", "UTC",
)
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)

# No example database: tests write nothing to the working directory.
PROPS = settings(
    max_examples=150, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------ validators


@pytest.mark.parametrize(
    ("value", "expected"),
    [("00:00", (0, 0)), ("09:05", (9, 5)), ("23:59", (23, 59)), ("12:30", (12, 30))],
)
def test_parse_time_accepts(value: str, expected: tuple[int, int]) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    "value",
    ["25:00", "9:5", "9:00", "24:00", "12:60", "", "12:00:00", "ab:cd", "１２:００", " 09:00"],
)
def test_parse_time_refuses(value: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_time(value)
    assert info.value.field == "scheduleTime"
    assert repr(value) in info.value.message
    assert "HH:MM" in info.value.message


def test_parse_time_refuses_non_string_and_names_given_field() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_time(930, field="at")  # type: ignore[arg-type]
    assert info.value.field == "at"
    assert "930" in info.value.message


def test_schedule_error_is_a_400_validation_error() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_time("25:00")
    err = info.value
    assert isinstance(err, ValidationError)
    assert isinstance(err, ValueError)
    assert err.status == 400
    assert err.to_body()["error"] == {
        "type": "invalid_request", "message": err.message, "field": "scheduleTime",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Monday"], ("monday",)),
        (["fri", "MON", "monday", " wed "], ("monday", "wednesday", "friday")),
        (["sun", "sat"], ("saturday", "sunday")),
        ([], ()),
        ([d[:3].upper() for d in WEEKDAYS], WEEKDAYS),
    ],
)
def test_parse_days_normalizes(values: list[str], expected: tuple[str, ...]) -> None:
    assert parse_days(values) == expected


@pytest.mark.parametrize(
    ("values", "bad"),
    [(["monday", "funday"], "'funday'"), (["mo"], "'mo'"), ([""], "''"), (["tues"], "'tues'"),
     ([1], "1"), ("monday", "'monday'")],
)
def test_parse_days_refuses(values: Any, bad: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_days(values)
    assert info.value.field == "scheduleDays"
    assert bad in info.value.message


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "Asia/Kolkata", "Pacific/Chatham"])
def test_parse_zone_accepts(name: str) -> None:
    zone = parse_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "localtime", "Europe/Berlin/"],
)
def test_parse_zone_refuses(name: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_zone(name)
    assert info.value.field == "timezone"
    assert repr(name) in info.value.message
    assert "IANA" in info.value.message


def test_parse_zone_suggests_the_right_spelling() -> None:
    with pytest.raises(ScheduleError) as info:
        parse_zone("europe/berlin", field="tz")
    assert info.value.field == "tz"
    assert "did you mean 'Europe/Berlin'" in info.value.message


@pytest.mark.parametrize(
    ("expr", "normalized"),
    [
        ("30 2 * * *", "30 2 * * *"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 9 * * MON-FRI", "0 9 * * mon-fri"),
        ("  0   0\t1 JAN *  ", "0 0 1 jan *"),
        ("0 0 * * fri-sun", "0 0 * * fri-sun"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("5/15 1-5/2 1,15 */3 0-6", "5/15 1-5/2 1,15 */3 0-6"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 31 2 mon", "0 0 31 2 mon"),  # either day field may match
        ("@daily", "@daily"),
        ("@ANNUALLY", "@annually"),
        *[(m, m) for m in ("@yearly", "@monthly", "@weekly", "@midnight", "@hourly")],
    ],
)
def test_parse_cron_accepts(expr: str, normalized: str) -> None:
    assert parse_cron(expr) == normalized


@pytest.mark.parametrize(
    ("expr", "mentions"),
    [
        ("61 * * * *", ["minute", "'61'", "0-59"]),
        ("0 25 * * *", ["hour", "'25'", "0-23"]),
        ("0 0 32 * *", ["day-of-month", "'32'", "1-31"]),
        ("0 0 * 13 *", ["month", "'13'", "1-12"]),
        ("0 0 * * 8", ["day-of-week", "'8'", "0-7"]),
        ("* * * *", ["4 fields", "5"]),
        ("* * * * * *", ["6 fields", "seconds"]),
        ("* * * * * * *", ["7 fields"]),
        ("@reboot", ["'@reboot'", "not supported"]),
        ("@fortnightly", ["'@fortnightly'", "@daily"]),
        ("", ["''"]),
        ("*/0 * * * *", ["minute", "'/0'"]),
        ("0 0 L * *", ["day-of-month", "non-standard"]),
        ("0 0 15W * *", ["day-of-month", "non-standard"]),
        ("0 0 * * 5#2", ["day-of-week", "'5#2'", "non-standard"]),
        ("0 0 ? * *", ["day-of-month", "non-standard"]),
        ("H * * * *", ["minute", "non-standard"]),
        ("0 0 * * thur", ["day-of-week", "'thur'"]),
        ("22-2 * * * *", ["minute", "'22-2'", "backwards"]),
        ("1,,2 * * * *", ["minute", "empty"]),
        ("0 0 30 2 *", ["never fires", "'30'"]),
        ("0 0 31 4,6 *", ["never fires"]),
    ],
)
def test_parse_cron_refuses(expr: str, mentions: list[str]) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_cron(expr)
    assert info.value.field == "cronExpression"
    for text in mentions:
        assert text in info.value.message, (text, info.value.message)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-03-08", date(2026, 3, 8)), ("2024-02-29", date(2024, 2, 29))],
)
def test_parse_date_accepts(value: str, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2026-02-30", "2025-02-29", "2026-3-8", "08.03.2026", ""])
def test_parse_date_refuses(value: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_date(value)
    assert info.value.field == "scheduledDate"
    assert repr(value) in info.value.message


@pytest.mark.parametrize("value", [1, 2, 24, 168])
def test_parse_interval_accepts(value: int) -> None:
    assert parse_interval(value) == value


@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, 2.0, 169, "2", None])
def test_parse_interval_refuses(value: Any) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_interval(value)
    assert info.value.field == "hourlyInterval"
    assert repr(value) in info.value.message
    assert "1 to 168" in info.value.message


# ------------------------------------------------------------ ScheduleSpec


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": "monthly"}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_time": "25:00"}, "scheduleTime"),
        ({"schedule_days": ("funday",)}, "scheduleDays"),
        ({"hourly_interval": 0}, "hourlyInterval"),
        ({"scheduled_date": "2026-02-30"}, "scheduledDate"),
        ({"cron_expression": "61 * * * *"}, "cronExpression"),
        # fields the kind does not use are still checked for format
        ({"schedule": "once", "schedule_days": ("funday",)}, "scheduleDays"),
        ({"schedule": "weekly", "hourly_interval": 169}, "hourlyInterval"),
    ],
)
def test_validate_names_the_field(changes: dict[str, Any], field: str) -> None:
    spec = replace(ScheduleSpec("daily", "UTC", ANCHOR), **changes)
    with pytest.raises(ScheduleError) as info:
        spec.validate()
    assert info.value.field == field
    with pytest.raises(ScheduleError):
        next_fire(spec, ANCHOR)


def test_validate_accepts_every_kind() -> None:
    for kind in SCHEDULES:
        ScheduleSpec(kind, "Europe/Berlin", ANCHOR, "07:15", ("mon",), 3, "2026-05-01").validate()


def test_naive_datetimes_are_programming_errors_not_400s() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="anchor") as info:
        ScheduleSpec("daily", "UTC", naive).validate()
    assert not isinstance(info.value, ScheduleError)
    spec = ScheduleSpec("daily", "UTC", ANCHOR)
    with pytest.raises(ValueError, match="after"):
        next_fire(spec, naive)
    with pytest.raises(ValueError, match="not_before"):
        latest_fire(spec, ANCHOR, naive)


def test_unused_fields_are_ignored() -> None:
    plain = ScheduleSpec("daily", "Europe/Berlin", ANCHOR, "07:00")
    extra = ScheduleSpec("daily", "Europe/Berlin", ANCHOR, "07:00", (), 5, "2030-01-01")
    assert upcoming(plain, ANCHOR, 5) == upcoming(extra, ANCHOR, 5)
    hourly = ScheduleSpec("hourly", "UTC", ANCHOR, schedule_days=("mon",))
    assert upcoming(hourly, ANCHOR, 3) == [ANCHOR + timedelta(hours=h) for h in (1, 2, 3)]


def test_cron_overrides_the_schedule_kind() -> None:
    spec = ScheduleSpec("once", "UTC", ANCHOR, "10:00", scheduled_date="2026-01-01",
                        cron_expression="0 */6 * * *")
    assert upcoming(spec, ANCHOR, 3) == [ANCHOR + timedelta(hours=h) for h in (6, 12, 18)]


def test_schedule_days_as_a_list_still_works() -> None:
    spec = ScheduleSpec("weekly", "UTC", ANCHOR, "10:00", ["friday"])  # type: ignore[arg-type]
    assert next_fire(spec, ANCHOR) == utc("2026-01-02T10:00Z")  # 2026-01-02 is a Friday


# ------------------------------------------------------------- unit semantics


def test_once_variants() -> None:
    anchor = utc("2026-05-10T12:34:56Z")  # 14:34:56 in Berlin
    z = "Europe/Berlin"
    both = ScheduleSpec("once", z, anchor, "08:15", scheduled_date="2026-06-01")
    assert next_fire(both, anchor) == utc("2026-06-01T06:15Z")
    later_today = ScheduleSpec("once", z, anchor, "18:00")
    assert next_fire(later_today, anchor) == utc("2026-05-10T16:00Z")
    tomorrow = ScheduleSpec("once", z, anchor, "08:00")
    assert next_fire(tomorrow, anchor) == utc("2026-05-11T06:00Z")
    date_only = ScheduleSpec("once", z, anchor, scheduled_date="2026-05-20")
    assert next_fire(date_only, anchor) == utc("2026-05-20T07:00Z")
    neither = ScheduleSpec("once", z, anchor)
    assert next_fire(neither, anchor) is None
    assert next_fire(neither, anchor, inclusive=True) == anchor
    assert next_fire(neither, anchor - US) == anchor
    assert upcoming(neither, anchor - timedelta(days=1), 5) == [anchor]
    assert next_fire(both, utc("2026-06-01T06:15Z")) is None
    assert latest_fire(both, utc("2026-07-01T00:00Z"), anchor) == utc("2026-06-01T06:15Z")
    assert latest_fire(both, utc("2026-06-01T06:14Z"), anchor) is None


def test_once_time_only_counts_the_anchor_instant_itself() -> None:
    anchor = utc("2026-05-10T16:00Z")  # 18:00 in Berlin
    spec = ScheduleSpec("once", "Europe/Berlin", anchor, "18:00")
    assert next_fire(spec, anchor, inclusive=True) == anchor


def test_hourly_default_origin_is_the_next_whole_minute() -> None:
    anchor = utc("2026-05-10T12:34:56.5Z")
    spec = ScheduleSpec("hourly", "Asia/Kolkata", anchor, hourly_interval=2)
    assert upcoming(spec, anchor, 2) == [utc("2026-05-10T12:35Z"), utc("2026-05-10T14:35Z")]
    on_the_minute = ScheduleSpec("hourly", "UTC", utc("2026-05-10T12:34Z"))
    assert next_fire(on_the_minute, utc("2026-05-10T12:34Z"), inclusive=True) == utc(
        "2026-05-10T12:34Z")
    assert next_fire(on_the_minute, utc("2026-05-10T12:34Z")) == utc("2026-05-10T13:34Z")


def test_hourly_with_time_is_anchored_on_the_anchor_local_date() -> None:
    # 2026-05-10T20:00Z is already 2026-05-11 01:30 in Kolkata.
    anchor = utc("2026-05-10T20:00Z")
    spec = ScheduleSpec("hourly", "Asia/Kolkata", anchor, "09:00", hourly_interval=24)
    assert next_fire(spec, anchor) == utc("2026-05-11T03:30Z")
    # Earlier slots of the same grid exist too (k < 0).
    assert next_fire(spec, utc("2026-01-01T00:00Z")) == utc("2026-01-01T03:30Z")


def test_weekly_defaults_to_the_anchor_weekday_in_the_task_zone() -> None:
    anchor = utc("2026-03-08T23:30Z")  # Sunday in UTC, Monday 05:00 in Kolkata
    spec = ScheduleSpec("weekly", "Asia/Kolkata", anchor)
    fires = upcoming(spec, anchor, 3)
    # 09:00 IST is still ahead on that Monday, so it is the first fire.
    assert fires == [utc("2026-03-09T03:30Z"), utc("2026-03-16T03:30Z"),
                     utc("2026-03-23T03:30Z")]
    assert {f.astimezone(ZoneInfo("Asia/Kolkata")).weekday() for f in fires} == {0}


def test_upcoming_counts() -> None:
    spec = ScheduleSpec("daily", "UTC", ANCHOR)
    assert upcoming(spec, ANCHOR, 0) == []
    with pytest.raises(ValueError):
        upcoming(spec, ANCHOR, -1)
    assert upcoming(spec, utc("2026-01-01T09:00Z"), 2, inclusive=True) == [
        utc("2026-01-01T09:00Z"), utc("2026-01-02T09:00Z")]


def test_results_are_utc_whatever_the_input_zone() -> None:
    spec = ScheduleSpec("daily", "Europe/Berlin", ANCHOR, "10:00")
    after = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # 06:30Z
    result = next_fire(spec, after)
    assert result == utc("2026-07-01T08:00Z")
    assert result is not None and result.tzinfo is UTC


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (ScheduleSpec("daily", "Europe/Berlin", ANCHOR), "daily at 09:00 (Europe/Berlin)"),
        (ScheduleSpec("daily", "UTC", ANCHOR, "18:30", ("fri", "mon")),
         "daily at 18:30 on monday, friday (UTC)"),
        (ScheduleSpec("weekly", "UTC", ANCHOR, "07:00", ("sunday",)),
         "weekly on sunday at 07:00 (UTC)"),
        (ScheduleSpec("hourly", "Europe/Berlin", ANCHOR, "09:00", hourly_interval=2),
         "every 2 hours from 09:00 (Europe/Berlin)"),
        (ScheduleSpec("hourly", "UTC", ANCHOR), "every hour from 00:00 (UTC)"),
        (ScheduleSpec("once", "Europe/Berlin", ANCHOR, "10:00", scheduled_date="2026-03-29"),
         "once at 2026-03-29 10:00 (Europe/Berlin)"),
        (ScheduleSpec("daily", "America/New_York", ANCHOR, cron_expression="30 2 * * *"),
         "cron '30 2 * * *' (America/New_York)"),
    ],
)
def test_describe(spec: ScheduleSpec, text: str) -> None:
    assert describe(spec) == text


def test_latest_fire_over_a_year_of_slots() -> None:
    not_before = utc("2025-06-01T00:00Z")
    not_after = utc("2026-06-01T12:34:56Z")
    hourly = ScheduleSpec("hourly", "Europe/Berlin", utc("2020-01-01T00:07Z"))
    assert latest_fire(hourly, not_after, not_before) == utc("2026-06-01T12:07Z")
    every_minute = ScheduleSpec("daily", "Europe/Berlin", ANCHOR, cron_expression="* * * * *")
    assert latest_fire(every_minute, not_after, not_before) == utc("2026-06-01T12:34Z")
    leap_day = ScheduleSpec("daily", "UTC", ANCHOR, cron_expression="0 12 29 2 *")
    assert latest_fire(leap_day, not_after, not_before) is None
    assert latest_fire(leap_day, not_after, utc("2020-01-01T00:00Z")) == utc(
        "2024-02-29T12:00Z")
    assert next_fire(leap_day, not_after) == utc("2028-02-29T12:00Z")
    assert latest_fire(hourly, not_before, not_after) is None  # empty window


# ----------------------------------------------------------------- strategies

TIMES = st.one_of(
    st.sampled_from(["00:00", "01:30", "01:45", "02:00", "02:15", "02:30", "02:45", "03:00",
                     "03:15", "03:30", "03:45", "23:59"]),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)
DAYS = st.lists(st.sampled_from(WEEKDAYS), max_size=7, unique=True).map(tuple)


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """Offset changes of a zone in 2020–2030, found by scanning (test helper only)."""
    zone = ZoneInfo(zone_name)

    def off(t: datetime) -> timedelta | None:
        return t.astimezone(zone).utcoffset()

    found = []
    t = datetime(2020, 1, 1, tzinfo=UTC)
    while t.year < 2031:
        nxt = t + timedelta(days=1)
        if off(t) != off(nxt):
            lo, hi = t, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if off(mid) == off(lo) else (lo, mid)
            found.append(hi)
        t = nxt
    return tuple(found)


UNIFORM = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.just(UTC))


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Instants in 2020–2030; two thirds of them close to a DST change."""
    changes = transitions(zone)
    near = draw(st.sampled_from([None, timedelta(days=2), timedelta(hours=3), timedelta(hours=3)]))
    if changes and near is not None:
        base = draw(st.sampled_from(changes))
        return base + draw(st.timedeltas(-near, near))
    return draw(UNIFORM)


CRON_MINUTES = ["0", "30", "*/15", "*/30", "15,45", "10,50", "20,40", "0-59/20", "5", "*"]
CRON_HOURS = ["*", "1", "2", "3", "1-3", "2,3", "*/3", "0,12", "9-17"]
CRONS = st.one_of(
    st.builds(
        lambda *parts: " ".join(parts),
        st.sampled_from(CRON_MINUTES), st.sampled_from(CRON_HOURS),
        st.sampled_from(["*"] * 4 + ["1", "15", "1-7", "*/10"]),
        st.sampled_from(["*"] * 4 + ["3", "10,11", "*/2"]),
        st.sampled_from(["*"] * 3 + ["0", "1-5", "sat,sun", "mon"]),
    ),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly"]),
)


@st.composite
def specs(draw: st.DrawFn, kinds: tuple[str, ...] = (*SCHEDULES, "cron")) -> ScheduleSpec:
    kind = draw(st.sampled_from(kinds))
    zone = draw(st.sampled_from(ZONES))
    anchor = draw(instants(zone))
    at = draw(st.one_of(TIMES, TIMES, st.none()))
    if kind == "cron":
        return ScheduleSpec("daily", zone, anchor, cron_expression=draw(CRONS))
    if kind == "once":
        day = draw(st.none() | st.dates(date(2020, 1, 1), date(2030, 12, 31)).map(str))
        return ScheduleSpec("once", zone, anchor, at, scheduled_date=day)
    if kind == "hourly":
        interval = draw(st.none() | st.sampled_from([1, 2, 3, 5, 24, 25, 168]))
        return ScheduleSpec("hourly", zone, anchor, at, hourly_interval=interval)
    return ScheduleSpec(kind, zone, anchor, at, draw(DAYS))


@st.composite
def spec_and_instant(
    draw: st.DrawFn, kinds: tuple[str, ...] = (*SCHEDULES, "cron")
) -> tuple[ScheduleSpec, datetime]:
    spec = draw(specs(kinds))
    return spec, draw(instants(spec.timezone))


# ----------------------------------------------------------------- properties


@PROPS
@given(spec_and_instant())
def test_fires_are_utc_after_and_strictly_increasing(case: tuple[ScheduleSpec, datetime]) -> None:
    spec, after = case
    fires = upcoming(spec, after, 12)
    if spec.schedule == "once" and spec.cron_expression is None:
        assert len(fires) <= 1
    else:
        assert len(fires) == 12
    assert all(f.tzinfo is UTC for f in fires)
    assert all(a < b for a, b in zip([after, *fires], fires, strict=False))


@PROPS
@given(spec_and_instant(), st.sampled_from([timedelta(minutes=1), timedelta(minutes=20),
                                            timedelta(hours=3), timedelta(hours=30)]))
def test_next_fire_skips_no_fire(case: tuple[ScheduleSpec, datetime], back: timedelta) -> None:
    spec, after = case
    if spec.cron_expression is not None:
        back = min(back, timedelta(hours=3))  # keep the walk short for every-minute crons
    result = next_fire(spec, after)
    # Walk the fires from an earlier point: the first one past `after` is the result.
    cursor: datetime | None = after - back
    for _ in range(5000):
        if cursor is None or cursor > after:
            break
        cursor = next_fire(spec, cursor)
    assert cursor == result
    if result is not None:
        assert result > after
        assert next_fire(spec, result, inclusive=True) == result
        assert next_fire(spec, result - US) == result
        assert next_fire(spec, after, inclusive=True) in (after, result)


@PROPS
@given(spec_and_instant(), st.sampled_from([timedelta(minutes=5), timedelta(hours=3),
                                            timedelta(days=2), timedelta(days=400)]))
def test_latest_fire_agrees_with_next_fire(
    case: tuple[ScheduleSpec, datetime], window: timedelta
) -> None:
    spec, not_after = case
    not_before = not_after - window
    result = latest_fire(spec, not_after, not_before)
    if result is None:
        following = next_fire(spec, not_before)
    else:
        assert not_before < result <= not_after
        assert next_fire(spec, result, inclusive=True) == result  # it is a fire
        following = next_fire(spec, result)
    assert following is None or following > not_after
    if window <= timedelta(hours=3):
        fires = [f for f in upcoming(spec, not_before, 400) if f <= not_after]
        assert result == (fires[-1] if fires else None)


def _due_dates(spec: ScheduleSpec, first: date, last: date) -> list[date]:
    days = set(spec.schedule_days) or (
        set(WEEKDAYS) if spec.schedule == "daily"
        else {WEEKDAYS[spec.anchor.astimezone(ZoneInfo(spec.timezone)).weekday()]}
    )
    out, day = [], first
    while day <= last:
        if WEEKDAYS[day.weekday()] in days:
            out.append(day)
        day += timedelta(days=1)
    return out


def _fires_by_local_date(spec: ScheduleSpec, first: date, last: date) -> list[datetime]:
    zone = ZoneInfo(spec.timezone)
    start = datetime.combine(first, time()).replace(tzinfo=zone) - timedelta(hours=3)
    fires: list[datetime] = []
    cursor = next_fire(spec, start)
    while cursor is not None and cursor.astimezone(zone).date() <= last:
        if cursor.astimezone(zone).date() >= first:
            fires.append(cursor)
        following = next_fire(spec, cursor)
        assert following is None or following > cursor
        cursor = following
    return fires


def _check_wall_time(fire: datetime, spec: ScheduleSpec) -> None:
    """RFC 5545: the wall time itself; shifted by the gap if missing; first if doubled."""
    zone = ZoneInfo(spec.timezone)
    local = fire.astimezone(zone)
    wall = datetime.combine(local.date(), time(*parse_time(spec.schedule_time or "09:00")))
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    round_trip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip == wall:  # the wall time exists; the first occurrence fires
        assert local.replace(tzinfo=None) == wall
        assert fire == min(early.astimezone(UTC), late.astimezone(UTC))
    else:  # skipped by a gap: same wall time pushed on by the gap's length
        gap = late.utcoffset() - early.utcoffset()  # type: ignore[operator]
        assert gap > timedelta(0)
        assert local.replace(tzinfo=None) == wall + gap


@PROPS
@given(specs(kinds=("daily",)), st.integers(2020, 2030))
def test_daily_fires_once_on_every_due_local_day_for_a_year(spec: ScheduleSpec, year: int) -> None:
    first, last = date(year, 1, 1), date(year, 12, 31)
    fires = _fires_by_local_date(spec, first, last)
    zone = ZoneInfo(spec.timezone)
    assert [f.astimezone(zone).date() for f in fires] == _due_dates(spec, first, last)
    for fire in fires:
        _check_wall_time(fire, spec)


@PROPS
@given(specs(kinds=("weekly",)), st.dates(date(2020, 1, 1), date(2030, 11, 1)))
def test_weekly_fires_only_and_always_on_listed_days(spec: ScheduleSpec, first: date) -> None:
    last = first + timedelta(days=34)
    fires = _fires_by_local_date(spec, first, last)
    zone = ZoneInfo(spec.timezone)
    assert [f.astimezone(zone).date() for f in fires] == _due_dates(spec, first, last)
    for fire in fires:
        _check_wall_time(fire, spec)


@PROPS
@given(spec_and_instant(kinds=("hourly",)))
def test_hourly_fires_are_exactly_interval_hours_apart(case: tuple[ScheduleSpec, datetime]) -> None:
    spec, after = case
    period = timedelta(hours=spec.hourly_interval or 1)
    fires = upcoming(spec, after, 30)
    assert all(b - a == period for a, b in pairwise(fires))
    assert fires[0] - after <= period
    # The grid passes through its origin.
    zone = ZoneInfo(spec.timezone)
    if spec.schedule_time is None:
        micros = (spec.anchor - datetime(1970, 1, 1, tzinfo=UTC)) // US
        minute = 60_000_000
        origin = datetime(1970, 1, 1, tzinfo=UTC) + -(-micros // minute) * minute * US
    else:
        local_day = spec.anchor.astimezone(zone).date()
        wall = datetime.combine(local_day, time(*parse_time(spec.schedule_time)))
        origin = wall.replace(tzinfo=zone).astimezone(UTC)
    assert (fires[0] - origin) % period == timedelta(0)
    assert next_fire(spec, origin, inclusive=True) == origin


def _cron_matcher(expr: str) -> Callable[[datetime], bool]:
    """An independent matcher over croniter's field expansion (classic day OR rule)."""
    (minutes, hours, doms, months, dows), _ = croniter.expand(expr)

    def has(values: list[Any], v: int) -> bool:
        return values == ["*"] or v in values

    def match(w: datetime) -> bool:
        if not (has(minutes, w.minute) and has(hours, w.hour) and has(months, w.month)):
            return False
        dom_ok, dow_ok = has(doms, w.day), has(dows, w.isoweekday() % 7)
        if doms != ["*"] and dows != ["*"]:
            return dom_ok or dow_ok
        return dom_ok and dow_ok

    return match


def _check_cron_against_brute_force(spec: ScheduleSpec, at: datetime) -> None:
    assert spec.cron_expression is not None
    zone = ZoneInfo(spec.timezone)
    match = _cron_matcher(parse_cron(spec.cron_expression))
    reach = timedelta(hours=3)
    # Every wall minute that could land within `reach` of `at`, mapped with fold=0:
    # a DST change moves wall time by at most an hour in these zones.
    wall = at.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    fires: set[datetime] = set()
    for m in range(-5 * 60, 5 * 60):
        w = wall + timedelta(minutes=m)
        if match(w):
            t = w.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if abs(t - at) <= reach:
                fires.add(t)
    ahead = sorted(t for t in fires if at < t <= at + reach)
    got: list[datetime] = []
    cursor = next_fire(spec, at)
    while cursor is not None and cursor <= at + reach and len(got) <= len(ahead):
        got.append(cursor)
        cursor = next_fire(spec, cursor)
    assert got == ahead
    for window in (timedelta(minutes=5), timedelta(hours=1), reach):
        behind = [t for t in fires if at - window < t <= at]
        assert latest_fire(spec, at, at - window) == (max(behind) if behind else None)


@settings(PROPS, max_examples=200)
@given(spec_and_instant(kinds=("cron",)))
def test_cron_fires_match_a_brute_force_walk_of_wall_minutes(
    case: tuple[ScheduleSpec, datetime],
) -> None:
    _check_cron_against_brute_force(*case)


@st.composite
def cron_near_a_transition(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime]:
    """Any minute set at the hours around a DST change, seen from close by.

    With a 30-minute gap (Lord Howe) wall-clock order and instant order differ:
    '20,40 2 * * *' fires 02:40 before the shifted 02:20.
    """
    zone = draw(st.sampled_from(["Australia/Lord_Howe", "Pacific/Chatham",
                                 "America/New_York", "Europe/Berlin"]))
    minutes = draw(st.lists(st.integers(0, 59), min_size=1, max_size=4, unique=True))
    hours = draw(st.sampled_from(["1", "2", "3", "1-3", "2,3", "*"]))
    expr = f"{','.join(map(str, sorted(minutes)))} {hours} * * *"
    at = draw(st.sampled_from(transitions(zone))) + draw(
        st.timedeltas(-timedelta(hours=3), timedelta(hours=3)))
    return ScheduleSpec("daily", zone, ANCHOR, cron_expression=expr), at


@settings(PROPS, max_examples=200)
@given(cron_near_a_transition())
def test_cron_near_dst_changes_matches_a_brute_force_walk(
    case: tuple[ScheduleSpec, datetime],
) -> None:
    _check_cron_against_brute_force(*case)
