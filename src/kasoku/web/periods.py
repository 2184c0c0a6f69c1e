"""The period picker: this week / month / year / all time / a custom range, in a time zone.

A period is a pair of local calendar days, inclusive (what every listening route takes as
``start``/``end``). "This month" and "this year" are the *whole* calendar month or year
(days after today hold no plays, so the answer is the same as "so far"): whole months are
what roll-ups answer (docs/rollups.md), and the URL stays the same all month long, so the
cache keeps answering it. The previous period, for the comparison beside each total, is the
previous week, month or year *up to the same day* (this month so far against last month so
far), or for a custom range the equal-length range ending the day before it (the rule of
``/v1/listening/overview``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    today: date | None = None  # for week/month/year: how far the period has come

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

    def granularity(self) -> Literal["day", "month"]:
        """Buckets of the listening-over-time chart: days up to a quarter, months beyond.
        (Not ISO weeks: a week's distinct tracks cannot be summed from day roll-ups, so a
        week-bucketed year is a raw scan — 2.3 s at 1 M plays against 0.14 s by month.)"""
        days = self.days
        return "day" if days is not None and days <= 92 else "month"

    def previous(self) -> "Period | None":
        """The period before, up to the same point (a week, month or year so far)."""
        if self.start is None or self.end is None:
            return None
        upto = min(self.end, self.today) if self.today is not None and self.today >= self.start else self.end
        if self.kind == "week":
            return Period("custom", self.start - timedelta(days=7), upto - timedelta(days=7), self.tz)
        if self.kind == "month":
            first = (self.start - timedelta(days=1)).replace(day=1)
            last_day = calendar.monthrange(first.year, first.month)[1]
            return Period("custom", first, first.replace(day=min(upto.day, last_day)), self.tz)
        if self.kind == "year":
            end = upto.replace(year=upto.year - 1, day=28) if (upto.month, upto.day) == (2, 29) \
                else upto.replace(year=upto.year - 1)
            return Period("custom", self.start.replace(year=self.start.year - 1), end, self.tz)
        length = (self.end - self.start).days + 1
        end = self.start - timedelta(days=1)
        return Period(self.kind, end - timedelta(days=length - 1), end, self.tz)

    def clip(self, start: date, end: date) -> "Period":
        """``start``..``end`` cut to this period."""
        if self.start is not None and start < self.start:
            start = self.start
        if self.end is not None and end > self.end:
            end = self.end
        return Period("custom", start, end, self.tz)


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
        monday = today - timedelta(days=today.weekday())
        return Period("week", monday, monday + timedelta(days=6), zone_name, today)
    if kind == "month":
        last = calendar.monthrange(today.year, today.month)[1]
        return Period("month", today.replace(day=1), today.replace(day=last), zone_name, today)
    if kind == "year":
        return Period("year", date(today.year, 1, 1), date(today.year, 12, 31), zone_name, today)
    if kind == "all":
        return Period("all", None, None, zone_name, today)
    if start is None or end is None:
        raise InvalidParameter("a custom period needs both start and end (ISO dates)",
                               details={"start": str(start), "end": str(end)})
    if start > end:
        raise InvalidParameter(f"date range is backwards: start {start} is after end {end}",
                               details={"start": str(start), "end": str(end)})
    return Period("custom", start, end, zone_name, today)


def year_period(year: int, tz: str) -> Period:
    if not 1900 <= year <= 9999:
        raise InvalidParameter(f"year {year} is out of range", details={"year": year})
    return Period("custom", date(year, 1, 1), date(year, 12, 31), tz, today_in(tz))

