"""DST table tests: exact UTC fire instants around the 2026 transitions.

Every expectation below was worked out by hand from the zone's offsets, not
computed by the code under test. The 2026 transitions (checked by
``test_the_transitions_are_where_the_table_assumes``):

* America/New_York  EST -05:00 / EDT -04:00. Spring 2026-03-08 at 07:00Z
  (02:00 → 03:00); fall 2026-11-01 at 06:00Z (02:00 EDT → 01:00 EST).
* Europe/Berlin     CET +01:00 / CEST +02:00. Spring 2026-03-29 at 01:00Z
  (02:00 → 03:00); fall 2026-10-25 at 01:00Z (03:00 CEST → 02:00 CET).
* Australia/Lord_Howe  +10:30 / +11:00, a 30-minute shift. Fall 2026-04-05 at
  2026-04-04 15:00Z (02:00 → 01:30); spring 2026-10-04 at 2026-10-03 15:30Z
  (02:00 → 02:30).
* Pacific/Chatham   +12:45 / +13:45. Fall 2026-04-05 at 2026-04-04 14:00Z
  (03:45 → 02:45); spring 2026-09-27 at 2026-09-26 14:00Z (02:45 → 03:45).
* Asia/Kolkata      +05:30, no DST.

All transition days above are Sundays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from promptlyd.scheduling.triggers import ScheduleSpec, latest_fire, next_fire, upcoming

ANCHOR = "2026-01-01T00:00Z"

NY, BERLIN, LORD_HOWE = "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"
KOLKATA, CHATHAM = "Asia/Kolkata", "Pacific/Chatham"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def spec(zone: str, schedule: str = "daily", anchor: str = ANCHOR, **kw: Any) -> ScheduleSpec:
    return ScheduleSpec(schedule=schedule, timezone=zone, anchor=utc(anchor), **kw)


def daily(zone: str, at: str) -> ScheduleSpec:
    return spec(zone, schedule_time=at)


def cron(zone: str, expr: str) -> ScheduleSpec:
    return spec(zone, cron_expression=expr)


def weekly(zone: str, at: str, *days: str) -> ScheduleSpec:
    return spec(zone, "weekly", schedule_time=at, schedule_days=days)


def hourly(zone: str, anchor: str, interval: int = 1, at: str | None = None) -> ScheduleSpec:
    return spec(zone, "hourly", anchor, schedule_time=at, hourly_interval=interval)


# (id, spec, after, expected fire instants in order)
TABLE: list[tuple[str, ScheduleSpec, str, list[str]]] = [
    # ---- America/New_York, spring forward 2026-03-08 ----
    ("ny-spring-daily-0230-shifted-to-0330", daily(NY, "02:30"), "2026-03-06T12:00Z",
     ["2026-03-07T07:30Z", "2026-03-08T07:30Z", "2026-03-09T06:30Z"]),
    ("ny-spring-daily-0130-before-gap", daily(NY, "01:30"), "2026-03-06T12:00Z",
     ["2026-03-07T06:30Z", "2026-03-08T06:30Z", "2026-03-09T05:30Z"]),
    ("ny-spring-cron-30-2", cron(NY, "30 2 * * *"), "2026-03-06T12:00Z",
     ["2026-03-07T07:30Z", "2026-03-08T07:30Z", "2026-03-09T06:30Z"]),
    # 02:00/02:30 shift onto 03:00/03:30 EDT, which fire once each.
    ("ny-spring-cron-every-30-min-deduped", cron(NY, "*/30 1-3 * * *"), "2026-03-08T05:00Z",
     ["2026-03-08T06:00Z", "2026-03-08T06:30Z", "2026-03-08T07:00Z", "2026-03-08T07:30Z",
      "2026-03-09T05:00Z"]),
    ("ny-spring-cron-10-50-deduped", cron(NY, "10,50 2-3 * * *"), "2026-03-08T06:00Z",
     ["2026-03-08T07:10Z", "2026-03-08T07:50Z", "2026-03-09T06:10Z", "2026-03-09T06:50Z",
      "2026-03-09T07:10Z", "2026-03-09T07:50Z"]),
    ("ny-spring-weekly-sun-mon", weekly(NY, "02:30", "sunday", "monday"), "2026-03-01T12:00Z",
     ["2026-03-02T07:30Z", "2026-03-08T07:30Z", "2026-03-09T06:30Z", "2026-03-15T06:30Z"]),
    # 00:00 EST, 01:00 EST, 03:00 EDT, 04:00 EDT: one hour of elapsed time apart.
    ("ny-spring-hourly", hourly(NY, "2026-03-08T05:00Z"), "2026-03-08T04:59Z",
     ["2026-03-08T05:00Z", "2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"]),
    # ---- America/New_York, fall back 2026-11-01 ----
    ("ny-fall-daily-0130-first-occurrence-only", daily(NY, "01:30"), "2026-10-30T12:00Z",
     ["2026-10-31T05:30Z", "2026-11-01T05:30Z", "2026-11-02T06:30Z"]),
    ("ny-fall-daily-0230", daily(NY, "02:30"), "2026-10-30T12:00Z",
     ["2026-10-31T06:30Z", "2026-11-01T07:30Z", "2026-11-02T07:30Z"]),
    ("ny-fall-cron-30-1", cron(NY, "30 1 * * *"), "2026-10-30T12:00Z",
     ["2026-10-31T05:30Z", "2026-11-01T05:30Z", "2026-11-02T06:30Z"]),
    # 01:00 and 01:30 EDT fire; their EST repeats (06:00Z, 06:30Z) do not.
    ("ny-fall-cron-every-30-min", cron(NY, "*/30 1-2 * * *"), "2026-11-01T04:00Z",
     ["2026-11-01T05:00Z", "2026-11-01T05:30Z", "2026-11-01T07:00Z", "2026-11-01T07:30Z",
      "2026-11-02T06:00Z"]),
    # origin 01:30 EDT (05:30Z); then 02:30 EST, 04:30 EST …
    ("ny-fall-hourly-2h-from-0130", hourly(NY, "2026-11-01T04:00Z", 2, "01:30"),
     "2026-11-01T04:00Z", ["2026-11-01T05:30Z", "2026-11-01T07:30Z", "2026-11-01T09:30Z"]),
    ("ny-fall-weekly-sunday-0130", weekly(NY, "01:30", "sunday"), "2026-10-24T12:00Z",
     ["2026-10-25T05:30Z", "2026-11-01T05:30Z", "2026-11-08T06:30Z"]),
    # ---- Europe/Berlin, spring forward 2026-03-29 ----
    ("berlin-spring-daily-0230-shifted-to-0330", daily(BERLIN, "02:30"), "2026-03-27T12:00Z",
     ["2026-03-28T01:30Z", "2026-03-29T01:30Z", "2026-03-30T00:30Z"]),
    ("berlin-spring-daily-0130", daily(BERLIN, "01:30"), "2026-03-27T12:00Z",
     ["2026-03-28T00:30Z", "2026-03-29T00:30Z", "2026-03-29T23:30Z"]),
    ("berlin-spring-cron-30-2", cron(BERLIN, "30 2 * * *"), "2026-03-27T12:00Z",
     ["2026-03-28T01:30Z", "2026-03-29T01:30Z", "2026-03-30T00:30Z"]),
    ("berlin-spring-weekly-sunday", weekly(BERLIN, "02:30", "sun"), "2026-03-20T12:00Z",
     ["2026-03-22T01:30Z", "2026-03-29T01:30Z", "2026-04-05T00:30Z"]),
    # origin: 02:30 on 03-29 does not exist → 03:30 CEST (01:30Z); then every 3 h.
    ("berlin-spring-hourly-3h-from-missing-0230",
     hourly(BERLIN, "2026-03-28T23:00Z", 3, "02:30"), "2026-03-28T23:00Z",
     ["2026-03-29T01:30Z", "2026-03-29T04:30Z", "2026-03-29T07:30Z"]),
    # ---- Europe/Berlin, fall back 2026-10-25 ----
    ("berlin-fall-daily-0230-first-occurrence-only", daily(BERLIN, "02:30"),
     "2026-10-23T12:00Z", ["2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"]),
    ("berlin-fall-daily-0130", daily(BERLIN, "01:30"), "2026-10-23T12:00Z",
     ["2026-10-23T23:30Z", "2026-10-24T23:30Z", "2026-10-26T00:30Z"]),
    ("berlin-fall-cron-30-2", cron(BERLIN, "30 2 * * *"), "2026-10-23T12:00Z",
     ["2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"]),
    # 00:00, 01:00, 02:00 CEST, then 02:00 and 03:00 CET: elapsed hours, no run lost.
    ("berlin-fall-hourly", hourly(BERLIN, "2026-10-24T22:00Z"), "2026-10-24T21:59Z",
     ["2026-10-24T22:00Z", "2026-10-24T23:00Z", "2026-10-25T00:00Z", "2026-10-25T01:00Z",
      "2026-10-25T02:00Z"]),
    # ---- Australia/Lord_Howe, spring forward 2026-10-04 (30-minute gap 02:00–02:30) ----
    ("lord-howe-spring-daily-0215-shifted-to-0245", daily(LORD_HOWE, "02:15"),
     "2026-10-01T18:00Z", ["2026-10-02T15:45Z", "2026-10-03T15:45Z", "2026-10-04T15:15Z"]),
    ("lord-howe-spring-daily-0230-exists", daily(LORD_HOWE, "02:30"), "2026-10-01T18:00Z",
     ["2026-10-02T16:00Z", "2026-10-03T15:30Z", "2026-10-04T15:30Z"]),
    ("lord-howe-spring-daily-0130", daily(LORD_HOWE, "01:30"), "2026-10-01T18:00Z",
     ["2026-10-02T15:00Z", "2026-10-03T15:00Z", "2026-10-04T14:30Z"]),
    ("lord-howe-spring-cron-15-2", cron(LORD_HOWE, "15 2 * * *"), "2026-10-01T18:00Z",
     ["2026-10-02T15:45Z", "2026-10-03T15:45Z", "2026-10-04T15:15Z"]),
    # 02:20 is shifted to 02:50 (15:50Z) but real 02:40 (15:40Z) comes first:
    # wall-clock order and instant order disagree on the transition day.
    ("lord-howe-spring-cron-20-40-reordered", cron(LORD_HOWE, "20,40 2 * * *"),
     "2026-10-02T12:00Z",
     ["2026-10-02T15:50Z", "2026-10-02T16:10Z", "2026-10-03T15:40Z", "2026-10-03T15:50Z",
      "2026-10-04T15:20Z", "2026-10-04T15:40Z"]),
    ("lord-howe-spring-weekly-sunday", weekly(LORD_HOWE, "02:15", "sun"), "2026-09-25T12:00Z",
     ["2026-09-26T15:45Z", "2026-10-03T15:45Z", "2026-10-10T15:15Z"]),
    # 00:00, 01:00 LHST, 02:30, 03:30 LHDT.
    ("lord-howe-spring-hourly", hourly(LORD_HOWE, "2026-10-03T13:30Z"), "2026-10-03T13:29Z",
     ["2026-10-03T13:30Z", "2026-10-03T14:30Z", "2026-10-03T15:30Z", "2026-10-03T16:30Z"]),
    # ---- Australia/Lord_Howe, fall back 2026-04-05 (01:30–02:00 twice) ----
    ("lord-howe-fall-daily-0145-first-occurrence-only", daily(LORD_HOWE, "01:45"),
     "2026-04-02T18:00Z", ["2026-04-03T14:45Z", "2026-04-04T14:45Z", "2026-04-05T15:15Z"]),
    ("lord-howe-fall-daily-0130", daily(LORD_HOWE, "01:30"), "2026-04-02T18:00Z",
     ["2026-04-03T14:30Z", "2026-04-04T14:30Z", "2026-04-05T15:00Z"]),
    ("lord-howe-fall-daily-0230", daily(LORD_HOWE, "02:30"), "2026-04-02T18:00Z",
     ["2026-04-03T15:30Z", "2026-04-04T16:00Z", "2026-04-05T16:00Z"]),
    # 01:30 and 01:45 fire at +11:00 only; their +10:30 repeats (15:00Z, 15:15Z) do not.
    ("lord-howe-fall-cron-every-15-min", cron(LORD_HOWE, "*/15 1-2 * * *"),
     "2026-04-04T13:30Z",
     ["2026-04-04T14:00Z", "2026-04-04T14:15Z", "2026-04-04T14:30Z", "2026-04-04T14:45Z",
      "2026-04-04T15:30Z", "2026-04-04T15:45Z", "2026-04-04T16:00Z", "2026-04-04T16:15Z",
      "2026-04-05T14:30Z"]),
    # ---- Asia/Kolkata: no DST, the same UTC time every day ----
    ("kolkata-daily-0230", daily(KOLKATA, "02:30"), "2026-03-06T12:00Z",
     ["2026-03-06T21:00Z", "2026-03-07T21:00Z", "2026-03-08T21:00Z"]),
    ("kolkata-cron-30-2", cron(KOLKATA, "30 2 * * *"), "2026-10-31T12:00Z",
     ["2026-10-31T21:00Z", "2026-11-01T21:00Z", "2026-11-02T21:00Z"]),
    ("kolkata-weekly-monday", weekly(KOLKATA, "09:00", "monday"), "2026-03-01T00:00Z",
     ["2026-03-02T03:30Z", "2026-03-09T03:30Z"]),
    ("kolkata-hourly-5h-from-0900", hourly(KOLKATA, "2026-03-08T00:00Z", 5, "09:00"),
     "2026-03-08T00:00Z", ["2026-03-08T03:30Z", "2026-03-08T08:30Z", "2026-03-08T13:30Z"]),
    # ---- Pacific/Chatham, spring forward 2026-09-27 (gap 02:45–03:45) ----
    ("chatham-spring-daily-0300-shifted-to-0400", daily(CHATHAM, "03:00"), "2026-09-24T18:00Z",
     ["2026-09-25T14:15Z", "2026-09-26T14:15Z", "2026-09-27T13:15Z"]),
    ("chatham-spring-daily-0245-shifted-to-0345", daily(CHATHAM, "02:45"),
     "2026-09-24T18:00Z", ["2026-09-25T14:00Z", "2026-09-26T14:00Z", "2026-09-27T13:00Z"]),
    ("chatham-spring-daily-0230", daily(CHATHAM, "02:30"), "2026-09-24T18:00Z",
     ["2026-09-25T13:45Z", "2026-09-26T13:45Z", "2026-09-27T12:45Z"]),
    ("chatham-spring-cron-0-30-3", cron(CHATHAM, "0,30 3 * * *"), "2026-09-25T12:00Z",
     ["2026-09-25T14:15Z", "2026-09-25T14:45Z", "2026-09-26T14:15Z", "2026-09-26T14:45Z",
      "2026-09-27T13:15Z", "2026-09-27T13:45Z"]),
    ("chatham-spring-weekly-sunday", weekly(CHATHAM, "03:00", "sunday"), "2026-09-18T12:00Z",
     ["2026-09-19T14:15Z", "2026-09-26T14:15Z", "2026-10-03T13:15Z"]),
    # 00:00, 01:00, 02:00 +12:45, then 04:00, 05:00 +13:45.
    ("chatham-spring-hourly", hourly(CHATHAM, "2026-09-26T11:15Z"), "2026-09-26T11:14Z",
     ["2026-09-26T11:15Z", "2026-09-26T12:15Z", "2026-09-26T13:15Z", "2026-09-26T14:15Z",
      "2026-09-26T15:15Z"]),
    # ---- Pacific/Chatham, fall back 2026-04-05 (02:45–03:45 twice) ----
    ("chatham-fall-daily-0300-first-occurrence-only", daily(CHATHAM, "03:00"),
     "2026-04-02T18:00Z", ["2026-04-03T13:15Z", "2026-04-04T13:15Z", "2026-04-05T14:15Z"]),
    ("chatham-fall-cron-every-30-min", cron(CHATHAM, "*/30 2-3 * * *"), "2026-04-04T11:00Z",
     ["2026-04-04T12:15Z", "2026-04-04T12:45Z", "2026-04-04T13:15Z", "2026-04-04T13:45Z",
      "2026-04-05T13:15Z"]),
    # ---- once on transition days ----
    ("berlin-once-missing-0230", spec(BERLIN, "once", schedule_time="02:30",
                                      scheduled_date="2026-03-29"),
     "2026-01-01T00:00Z", ["2026-03-29T01:30Z"]),
    ("berlin-once-doubled-0230", spec(BERLIN, "once", schedule_time="02:30",
                                      scheduled_date="2026-10-25"),
     "2026-01-01T00:00Z", ["2026-10-25T00:30Z"]),
    ("lord-howe-once-missing-0215", spec(LORD_HOWE, "once", schedule_time="02:15",
                                         scheduled_date="2026-10-04"),
     "2026-01-01T00:00Z", ["2026-10-03T15:45Z"]),
]


@pytest.mark.parametrize(
    ("spec_", "after", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_fire_instants(spec_: ScheduleSpec, after: str, expected: list[str]) -> None:
    want = [utc(t) for t in expected]
    assert upcoming(spec_, utc(after), len(want) + 1)[: len(want)] == want
    # Each instant is also what next_fire gives from just before it …
    for t in want:
        assert next_fire(spec_, t - timedelta(microseconds=1)) == t
        assert next_fire(spec_, t, inclusive=True) == t
    # … and what catch-up picks as the latest slot of a window ending on it.
    for prev, t in zip([utc(after), *want], want, strict=False):
        assert latest_fire(spec_, t, prev) == t
        assert latest_fire(spec_, t - timedelta(microseconds=1), prev) is None


# (id, spec, not_after, not_before, expected latest slot)
CATCH_UP: list[tuple[str, ScheduleSpec, str, str, str | None]] = [
    ("ny-spring-missing-slot-included", daily(NY, "02:30"),
     "2026-03-08T07:45Z", "2026-03-07T12:00Z", "2026-03-08T07:30Z"),
    ("ny-spring-just-before-shifted-slot", daily(NY, "02:30"),
     "2026-03-08T07:29Z", "2026-03-07T12:00Z", None),
    # not_after is 01:45 EST (second pass); 01:50 fired at its first occurrence, 05:50Z.
    ("ny-fall-wall-time-after-not-after", cron(NY, "50 1 * * *"),
     "2026-11-01T06:45Z", "2026-10-31T12:00Z", "2026-11-01T05:50Z"),
    ("lord-howe-spring-reordered-a", cron(LORD_HOWE, "20,40 2 * * *"),
     "2026-10-03T15:45Z", "2026-10-03T12:00Z", "2026-10-03T15:40Z"),
    ("lord-howe-spring-reordered-b", cron(LORD_HOWE, "20,40 2 * * *"),
     "2026-10-03T15:55Z", "2026-10-03T12:00Z", "2026-10-03T15:50Z"),
    # not_after is 03:05 on the second pass (+12:45); 03:30 fired on the first, 13:45Z.
    ("chatham-fall-second-pass", cron(CHATHAM, "*/30 2-3 * * *"),
     "2026-04-04T14:50Z", "2026-04-04T12:00Z", "2026-04-04T13:45Z"),
    ("berlin-fall-hourly", hourly(BERLIN, "2026-10-24T22:00Z"),
     "2026-10-25T01:30Z", "2026-10-24T12:00Z", "2026-10-25T01:00Z"),
    ("berlin-once-missing-0230", spec(BERLIN, "once", schedule_time="02:30",
                                      scheduled_date="2026-03-29"),
     "2026-03-29T02:00Z", "2026-03-29T00:00Z", "2026-03-29T01:30Z"),
    ("berlin-daily-a-year-of-downtime", daily(BERLIN, "02:30"),
     "2026-10-25T00:45Z", "2025-10-25T00:00Z", "2026-10-25T00:30Z"),
]


@pytest.mark.parametrize(
    ("spec_", "not_after", "not_before", "expected"),
    [row[1:] for row in CATCH_UP], ids=[row[0] for row in CATCH_UP],
)
def test_catch_up_slot(
    spec_: ScheduleSpec, not_after: str, not_before: str, expected: str | None
) -> None:
    want = None if expected is None else utc(expected)
    assert latest_fire(spec_, utc(not_after), utc(not_before)) == want


# (zone, transition instant, offset before, offset after)
TRANSITIONS = [
    (NY, "2026-03-08T07:00Z", -5 * 60, -4 * 60),
    (NY, "2026-11-01T06:00Z", -4 * 60, -5 * 60),
    (BERLIN, "2026-03-29T01:00Z", 60, 120),
    (BERLIN, "2026-10-25T01:00Z", 120, 60),
    (LORD_HOWE, "2026-04-04T15:00Z", 11 * 60, 10 * 60 + 30),
    (LORD_HOWE, "2026-10-03T15:30Z", 10 * 60 + 30, 11 * 60),
    (CHATHAM, "2026-04-04T14:00Z", 13 * 60 + 45, 12 * 60 + 45),
    (CHATHAM, "2026-09-26T14:00Z", 12 * 60 + 45, 13 * 60 + 45),
    (KOLKATA, "2026-03-08T07:00Z", 5 * 60 + 30, 5 * 60 + 30),
]


@pytest.mark.parametrize(("zone", "at", "before", "after"), TRANSITIONS)
def test_the_transitions_are_where_the_table_assumes(
    zone: str, at: str, before: int, after: int
) -> None:
    tz, instant = ZoneInfo(zone), utc(at)
    assert (instant - timedelta(seconds=1)).astimezone(tz).utcoffset() == timedelta(minutes=before)
    assert instant.astimezone(tz).utcoffset() == timedelta(minutes=after)
    assert instant.astimezone(tz).weekday() == 6 or zone == KOLKATA  # all on a Sunday


@pytest.mark.parametrize(
    ("zone", "wall", "fold", "expected"),
    [
        # A missing wall time with fold=0 lands the gap's length later (RFC 5545).
        (NY, (2026, 3, 8, 2, 30), 0, "2026-03-08T07:30Z"),  # 03:30 EDT
        (BERLIN, (2026, 3, 29, 2, 30), 0, "2026-03-29T01:30Z"),  # 03:30 CEST
        (LORD_HOWE, (2026, 10, 4, 2, 15), 0, "2026-10-03T15:45Z"),  # 02:45 +11:00
        (CHATHAM, (2026, 9, 27, 3, 0), 0, "2026-09-26T14:15Z"),  # 04:00 +13:45
        # A doubled wall time with fold=0 is its first occurrence; fold=1 the second.
        (NY, (2026, 11, 1, 1, 30), 0, "2026-11-01T05:30Z"),
        (NY, (2026, 11, 1, 1, 30), 1, "2026-11-01T06:30Z"),
        (BERLIN, (2026, 10, 25, 2, 30), 0, "2026-10-25T00:30Z"),
        (BERLIN, (2026, 10, 25, 2, 30), 1, "2026-10-25T01:30Z"),
        (LORD_HOWE, (2026, 4, 5, 1, 45), 0, "2026-04-04T14:45Z"),
        (LORD_HOWE, (2026, 4, 5, 1, 45), 1, "2026-04-04T15:15Z"),
        (CHATHAM, (2026, 4, 5, 3, 0), 0, "2026-04-04T13:15Z"),
        (CHATHAM, (2026, 4, 5, 3, 0), 1, "2026-04-04T14:15Z"),
    ],
)
def test_zoneinfo_fold_zero_is_the_rfc5545_rule(
    zone: str, wall: tuple[int, int, int, int, int], fold: int, expected: str
) -> None:
    local = datetime(*wall, tzinfo=ZoneInfo(zone), fold=fold)
    assert local.astimezone(UTC) == utc(expected)
