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


def _offset(z: zoneinfo.ZoneInfo, t: datetime) -> int:
    off = t.astimezone(z).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@functools.lru_cache(maxsize=8192)
def _year_transitions(tz: str, year: int) -> tuple[int, tuple[tuple[datetime, int], ...]]:
    """(offset at 1 January 00:00 UTC, the changes during the year), to the second: a weekly
    scan (offsets last months; Ramadan suspensions weeks) and a bisection of each change."""
    z = zone(tz)
    t = datetime(year, 1, 1, tzinfo=timezone.utc)
    stop = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    initial = current = _offset(z, t)
    changes: list[tuple[datetime, int]] = []
    while t < stop:
        nxt = min(t + timedelta(days=7), stop)
        while _offset(z, nxt) != current:  # a change in (t, nxt]: find the first second with another offset
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = (lo + (hi - lo) / 2).replace(microsecond=0)
                if _offset(z, mid) == current:
                    lo = mid
                else:
                    hi = mid
            current = _offset(z, hi)
            changes.append((hi, current))
            t = hi
        t = nxt
    return initial, tuple(changes)


def transitions(tz: str, first_year: int, last_year: int) -> tuple[int, tuple[tuple[datetime, int], ...]]:
    """(offset at the start of ``first_year``, ((instant, new offset), ...)) through ``last_year``."""
    initial, _ = _year_transitions(tz, first_year)
    changes: list[tuple[datetime, int]] = []
    for year in range(first_year, last_year + 1):
        changes.extend(_year_transitions(tz, year)[1])
    return initial, tuple(changes)


def offsets_between(tz: str, first_year: int, last_year: int) -> frozenset[int]:
    """Every UTC offset (seconds) ``tz`` uses from ``first_year`` through ``last_year``."""
    initial, changes = transitions(tz, first_year, last_year)
    return frozenset({initial, *(off for _, off in changes)})


def quarter_hour_aligned(tz: str, first_year: int, last_year: int) -> bool:
    """Is every offset of ``tz`` in those years a whole number of quarter-hours? Then local hours
    and days are unions of UTC quarter-hours (true for every zone since 1980; not for old LMT)."""
    return all(off % 900 == 0 for off in offsets_between(tz, first_year, last_year))


def utc_equivalent(tz: str, first_year: int, last_year: int) -> bool:
    """Does ``tz`` keep offset 0 through those years (local days are UTC days)?"""
    return offsets_between(tz, first_year, last_year) <= {0}


# Years whose offsets are written into SQL as arithmetic when a range is open; instants outside
# the span fall back to DuckDB's ICU (no Spotify play is older than 2006).
OPEN_SPAN = (2006, 2035)


def local_sql(tz: str, column: str, first_year: int, last_year: int) -> str:
    """SQL for the TIMESTAMPTZ ``column`` as local wall-clock TIMESTAMP in ``tz``.

    Offsets come from zoneinfo (the same database as the range bounds), written as plain
    arithmetic: a constant for fixed-offset zones, a CASE over the span's transitions for DST
    zones — several times faster than a per-row ICU conversion. The session zone is UTC.
    """
    initial, changes = transitions(tz, first_year, last_year)
    utc = f"CAST({column} AS TIMESTAMP)"
    if not changes:
        offset = f"{utc} + to_seconds({initial})"
    else:
        whens = [f"WHEN {column} < '{changes[0][0].isoformat()}'::TIMESTAMPTZ THEN {initial}"]
        whens += [f"WHEN {column} < '{changes[i + 1][0].isoformat()}'::TIMESTAMPTZ THEN {off}"
                  for i, (_, off) in enumerate(changes[:-1])]
        offset = f"{utc} + to_seconds(CASE {' '.join(whens)} ELSE {changes[-1][1]} END)"
    lo = datetime(first_year, 1, 1, tzinfo=timezone.utc).isoformat()
    hi = datetime(last_year + 1, 1, 1, tzinfo=timezone.utc).isoformat()
    return (f"(CASE WHEN {column} >= '{lo}'::TIMESTAMPTZ AND {column} < '{hi}'::TIMESTAMPTZ THEN {offset} "
            f"ELSE timezone({sql_zone(tz)}, {column}) END)")
