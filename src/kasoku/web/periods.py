"""The period picker: this week / month / year / all time / a custom range, in a time zone.

A period is a pair of local calendar days, inclusive (what every listening route takes as
``start``/``end``). The previous period is the one just before it, for the comparison
beside each total: the previous week, month or year *up to the same day* (this month so far
against last month so far), or for a custom range the equal-length range ending the day
before it (the same rule as ``/v1/listening/overview``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from kasoku.errors import InvalidParameter

Kind = Literal["week", "month", "year", "all", "custom"]
KINDS: tuple[Kind, ...] = ("week", "month", "year", "all", "custom")
LABELS = {"week": "This week", "month": "This month", "year": "This year", "all": "All time", "custom": "Custom"}


@dataclass(frozen=True)
class Period:
    kind: Kind
    start: date | None
    end: date | None
    tz: str

    @property
    def label(self) -> str:
        if self.start is None or self.end is None:
            return "All time"
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    @property
    def days(self) -> int | None:
        return None if self.start is None or self.end is None else (self.end - self.start).days + 1

    def granularity(self) -> Literal["day", "week", "month"]:
        """Buckets of the listening-over-time chart: ~7-62 points whatever the length."""
        days = self.days
        if days is None or days > 2 * 366:
            return "month"
        return "day" if days <= 62 else "week"

    def previous(self) -> "Period | None":
        if self.start is None or self.end is None:
            return None
        if self.kind == "week":
            return Period(self.kind, self.start - timedelta(days=7), self.end - timedelta(days=7), self.tz)
        if self.kind == "month":
            first = (self.start - timedelta(days=1)).replace(day=1)
            last_day = calendar.monthrange(first.year, first.month)[1]
            return Period(self.kind, first, first.replace(day=min(self.end.day, last_day)), self.tz)
        if self.kind == "year":
            end = self.end.replace(year=self.end.year - 1, day=28) if (self.end.month, self.end.day) == (2, 29) \
                else self.end.replace(year=self.end.year - 1)
            return Period(self.kind, self.start.replace(year=self.start.year - 1), end, self.tz)
        length = (self.end - self.start).days + 1
        end = self.start - timedelta(days=1)
        return Period(self.kind, end - timedelta(days=length - 1), end, self.tz)


def zone(name: str | None) -> str:
    """A valid IANA zone name (default UTC), or InvalidParameter naming it."""
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParameter(f"unknown time zone {name!r}", details={"tz": name}) from None
    return name


def today_in(tz: str, now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz)).date()


def resolve(kind: str | None, start: date | None, end: date | None, tz: str | None, *,
            now: datetime | None = None, default: Kind = "year") -> Period:
    """The period a request asks for; a custom range needs both days, in order."""
    zone_name = zone(tz)
    if kind is None:
        kind = "custom" if start is not None or end is not None else default
    if kind not in KINDS:
        raise InvalidParameter(f"unknown period {kind!r}", details={"period": kind, "valid": list(KINDS)})
    today = today_in(zone_name, now)
    if kind == "week":
        return Period("week", today - timedelta(days=today.weekday()), today, zone_name)
    if kind == "month":
        return Period("month", today.replace(day=1), today, zone_name)
    if kind == "year":
        return Period("year", today.replace(month=1, day=1), today, zone_name)
    if kind == "all":
        return Period("all", None, None, zone_name)
    if start is None or end is None:
        raise InvalidParameter("a custom period needs both start and end (ISO dates)",
                               details={"start": str(start), "end": str(end)})
    if start > end:
        raise InvalidParameter(f"date range is backwards: start {start} is after end {end}",
                               details={"start": str(start), "end": str(end)})
    return Period("custom", start, end, zone_name)


def year_period(year: int, tz: str) -> Period:
    if not 1900 <= year <= 9999:
        raise InvalidParameter(f"year {year} is out of range", details={"year": year})
    return Period("custom", date(year, 1, 1), date(year, 12, 31), tz)


def zone_names() -> list[str]:
    """Every IANA zone this Python knows (the picker's suggestions)."""
    return sorted(available_timezones())
