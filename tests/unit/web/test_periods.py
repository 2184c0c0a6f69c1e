"""The period picker: calendar periods, the previous period so far, bad input."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from kasoku.errors import InvalidParameter
from kasoku.web.periods import resolve, year_period

NOW = datetime(2026, 3, 4, 23, 30, tzinfo=timezone.utc)  # a Wednesday; already the 5th in Tokyo


def test_calendar_periods_are_whole_and_previous_is_so_far() -> None:
    month = resolve("month", None, None, "UTC", now=NOW)
    assert (month.start, month.end) == (date(2026, 3, 1), date(2026, 3, 31))
    prev = month.previous()
    assert prev is not None and (prev.start, prev.end) == (date(2026, 2, 1), date(2026, 2, 4))
    year = resolve("year", None, None, "UTC", now=NOW)
    assert (year.start, year.end) == (date(2026, 1, 1), date(2026, 12, 31))
    prev = year.previous()
    assert prev is not None and (prev.start, prev.end) == (date(2025, 1, 1), date(2025, 3, 4))
    week = resolve("week", None, None, "UTC", now=NOW)
    assert (week.start, week.end) == (date(2026, 3, 2), date(2026, 3, 8))
    prev = week.previous()
    assert prev is not None and (prev.start, prev.end) == (date(2026, 2, 23), date(2026, 2, 25))


def test_the_zone_decides_what_today_is() -> None:
    assert resolve("week", None, None, "Asia/Tokyo", now=NOW).today == date(2026, 3, 5)
    assert resolve("week", None, None, "America/Los_Angeles", now=NOW).today == date(2026, 3, 4)


def test_custom_all_and_granularity() -> None:
    custom = resolve(None, date(2026, 1, 10), date(2026, 1, 19), "UTC", now=NOW)
    assert custom.kind == "custom" and custom.granularity() == "day"
    prev = custom.previous()
    assert prev is not None and (prev.start, prev.end) == (date(2025, 12, 31), date(2026, 1, 9))
    everything = resolve("all", None, None, "UTC", now=NOW)
    assert everything.previous() is None and everything.granularity() == "month"
    assert year_period(2025, "UTC").granularity() == "month"
    assert resolve("month", None, None, "UTC", now=NOW).granularity() == "day"
    cut = resolve("month", None, None, "UTC", now=NOW).clip(date(2026, 2, 20), date(2026, 4, 2))
    assert (cut.start, cut.end) == (date(2026, 3, 1), date(2026, 3, 31))


@pytest.mark.parametrize("kind,start,end,tz", [("decade", None, None, "UTC"), ("custom", date(2026, 1, 2), None, "UTC"),
                                               (None, date(2026, 2, 1), date(2026, 1, 1), "UTC"),
                                               ("week", None, None, "Mars/Olympus")])
def test_bad_periods_are_400s(kind: str | None, start: date | None, end: date | None, tz: str) -> None:
    with pytest.raises(InvalidParameter):
        resolve(kind, start, end, tz, now=NOW)
