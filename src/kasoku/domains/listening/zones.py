"""Time zones of the listening domain: which names are valid, and local days as UTC instants.

A range of local calendar days ``[start, end]`` in zone ``tz`` is the half-open interval of
instants ``[local midnight of start, local midnight after end)``. Midnight is taken with
``fold=0``: when a DST gap swallows midnight this is the instant the day begins (the first
wall-clock time after the gap), so a DST day has 23 or 25 hours and is counted as such.

Bucketing (local day, week, month, hour, weekday) happens in DuckDB (ICU's ``timezone(tz, ts)``)
on both the raw and the roll-up path; bounds are computed here. A name is valid only when both
Python's zoneinfo (the ``tzdata`` package) and DuckDB's ICU know it.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone

from kasoku.errors import InvalidParameter

UTC = "UTC"


@functools.cache
def _icu_zones() -> frozenset[str]:
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        return frozenset(row[0] for row in con.execute("SELECT name FROM pg_timezone_names()").fetchall())
    finally:
        con.close()


@functools.cache
def _python_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_zone(name: str) -> str:
    """``name`` if it is an IANA zone both zoneinfo and DuckDB know; else a 400 naming it."""
    if name == UTC or (name in _python_zones() and name in _icu_zones()):
        return name
    raise InvalidParameter(f"unknown time zone {name!r}: give an IANA name such as 'Asia/Tokyo' or 'UTC'",
                           details={"tz": name})


@functools.lru_cache(maxsize=256)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(check_zone(name))


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant the local calendar day ``day`` begins in ``tz``."""
    return datetime.combine(day, time.min, tzinfo=zone(tz)).astimezone(timezone.utc)


def local_bounds(start: date | None, end: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    """[lo, hi) UTC instants of the inclusive local day range (None = open)."""
    lo = local_midnight(start, tz) if start is not None else None
    hi = local_midnight(end + timedelta(days=1), tz) if end is not None else None
    return lo, hi


def sql_zone(tz: str) -> str:
    """The zone as an SQL string literal (checked names only: no quoting issues)."""
    return "'" + check_zone(tz).replace("'", "''") + "'"


@functools.lru_cache(maxsize=4096)
def _year_offsets(tz: str, year: int) -> frozenset[int]:
    """Every UTC offset (seconds) ``tz`` uses during UTC year ``year`` (sampled hourly: offsets
    last far longer than an hour)."""
    z = zone(tz)
    t = datetime(year, 1, 1, tzinfo=timezone.utc)
    stop = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    seen: set[int] = set()
    while t < stop:
        off = t.astimezone(z).utcoffset()
        seen.add(int(off.total_seconds()) if off is not None else 0)
        t += timedelta(hours=1)
    return frozenset(seen)


def offsets_between(tz: str, first_year: int, last_year: int) -> frozenset[int]:
    out: set[int] = set()
    for year in range(first_year, last_year + 1):
        out |= _year_offsets(tz, year)
    return frozenset(out)


def quarter_hour_aligned(tz: str, first_year: int, last_year: int) -> bool:
    """Is every offset of ``tz`` in those years a whole number of quarter-hours? Then local hours
    and days are unions of UTC quarter-hours (true for every zone since 1980; not for old LMT)."""
    return all(off % 900 == 0 for off in offsets_between(tz, first_year, last_year))


def utc_equivalent(tz: str, first_year: int, last_year: int) -> bool:
    """Does ``tz`` keep offset 0 through those years (local days are UTC days)?"""
    return offsets_between(tz, first_year, last_year) <= {0}
