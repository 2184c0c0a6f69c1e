"""Aggregate awareness: answer a tool from a roll-up when, and only when, the answer is identical.

Rules (docs/rollups.md has the argument):

- Month roll-ups (tracks, artists, genres, month stats) answer *whole-month* ranges: start
  omitted or the 1st of a month, end omitted or the last day of a month. Day roll-ups
  (days, day_tracks, hours) answer any day range: a range is whole days by construction.
- Every plays month the range touches must have the roll-up partition; otherwise raw. (Ingest
  commits roll-ups with plays, or drops them, so a present partition is never stale.)
- One calendar month → read that month's ranked rows (``rank <= limit``): no GROUP BY.
  Exactly 3, 6 or 12 calendar months → the materialised window ending there, ranked, no GROUP
  BY (windows keep ranks 1..TOP_N, enough for any limit up to TOP_N). Any other whole-month range → sum the months' full counts (a GROUP BY over roll-up rows).
- Sums are of integer milliseconds, rounded last, and ties are ordered as the raw SQL orders
  them, so the rows, their order and their types equal the raw answer.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from kasoku.domains.listening import rollup_build as rb
from kasoku.domains.listening.rollup_zones import ZoneRollups
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import in_range
from kasoku.domains.listening.tables import PLAYS, ref
from kasoku.domains.listening.tools import PERIOD_FORMATS, RangeParams, StatsParams, TopParams, min_ms_of, zone_of
from kasoku.domains.listening.zones import utc_equivalent

ZONES = "rollup_local"  # Plan.table of an answer from the any-zone tables
from kasoku.lake.duckdb_pool import DuckDBPool


@dataclass(frozen=True)
class Plan:
    """The roll-up query chosen for a tool call: which table, its SQL and arguments."""

    table: str
    sql: str  # over the DuckLake table at the snapshot (what a profile shows)
    args: list[Any]
    template: str = ""  # the same with ``{rel}`` for the table (answered from memory for small roll-ups)
    relations: dict[str, pa.Table] = field(default_factory=dict)  # in-memory relations the SQL reads by name
    answer: pa.Table | None = None  # the answer itself, computed from the in-memory play index


def whole_months(params: RangeParams) -> bool:
    """Does the range cover whole calendar months only (open ends count as whole)?"""
    if params.start is not None and params.start.day != 1:
        return False
    if params.end is not None and params.end.day != calendar.monthrange(params.end.year, params.end.month)[1]:
        return False
    return True


def calendar_months(params: RangeParams) -> int | None:
    """How many calendar months a closed range spans; None for open ranges."""
    if params.start is None or params.end is None:
        return None
    return (params.end.year - params.start.year) * 12 + params.end.month - params.start.month + 1


def _day_filter(params: RangeParams) -> tuple[str, list[Any]]:
    clauses, args = "", []
    if params.start is not None:
        clauses += " AND day >= ?"
        args.append(params.start)
    if params.end is not None:
        clauses += " AND day <= ?"
        args.append(params.end)
    return clauses, args


def _month_filter(months: list[str]) -> str:
    """Rows of exactly these months (month-keyed roll-ups hold every month; a range reads its own)."""
    return " AND (year * 12 + month - 1) IN (" + ", ".join(str(rb.month_index(m)) for m in months) + ")"


class LakeRollups:
    """The ``RollupMatcher`` of :class:`~kasoku.domains.listening.source.ListeningSource`.

    ``windows=False`` answers 3/6/12-month ranges by summing months instead of reading the
    materialised window (the benchmark compares the two).
    """

    def __init__(self, pool: DuckDBPool, catalog: SnapshotCatalog, *, windows: bool = True, memory: bool = True,
                 wait: bool = True) -> None:
        self.pool = pool
        self.catalog = catalog
        self.windows = windows
        self.zones = ZoneRollups(catalog, memory=memory, wait=wait)

    async def answer(self, tool: str, params: RangeParams, user_id: str, snapshot: int) -> pa.Table | None:
        plan = await self.plan(tool, params, user_id, snapshot)
        if plan is None:
            return None
        if plan.table == ZONES:  # over DuckLake tables pinned to the snapshot already, or in-memory relations
            if plan.answer is not None:
                return plan.answer
            if not plan.relations:
                return await self.pool.arrow(plan.sql, plan.args)
            return await self.pool.run(lambda cur: _with_relations(cur, plan))
        if plan.answer is not None:
            return plan.answer
        return await self.catalog.query(snapshot, plan.table, plan.template, plan.args)

    # ------------------------------------------------------------ choosing
    async def plan(self, tool: str, params: RangeParams, user_id: str, snapshot: int) -> Plan | None:
        """The roll-up query that answers ``tool(params)`` exactly at ``snapshot``, or None (use raw plays).

        First the UTC tables (every stream, UTC days: ranked months, windows); then the any-zone,
        both-rules tables of rollup_local.py (rollup_zones.py)."""
        months = in_range(await self.catalog.months(snapshot, PLAYS), params)
        if not months:
            return None  # nothing to read either way; raw returns the typed empty answer
        if min_ms_of(params) == 0 and utc_equivalent(zone_of(params), int(months[0][:4]) - 1, int(months[-1][:4]) + 1):
            plan = await self._utc_plan(tool, params, user_id, months, snapshot)
            if plan is not None:
                return plan
        planned = await self.zones.plan(tool, params, user_id, snapshot)
        if planned is None:
            return None
        return Plan(ZONES, planned.sql, planned.args, relations=planned.relations, answer=planned.answer)

    async def _utc_plan(self, tool: str, params: RangeParams, user_id: str, months: list[str],
                        snapshot: int) -> Plan | None:
        if tool == "top_tracks" and isinstance(params, TopParams):
            return await self._top(params, user_id, months, snapshot, rb.TRACKS_MONTHLY, rb.TRACKS_WINDOW,
                                   _TRACKS_COMBINED, _TRACKS_RANKED)
        if tool == "top_artists" and isinstance(params, TopParams):
            return await self._top(params, user_id, months, snapshot, rb.ARTISTS_MONTHLY, rb.ARTISTS_WINDOW,
                                   _ARTISTS_COMBINED, _ARTISTS_RANKED)
        if tool == "top_genres" and isinstance(params, TopParams):
            if not whole_months(params):
                return None
            return await self._read(rb.GENRES_MONTHLY, months, snapshot, _GENRES_COMBINED.format(
                limit=int(params.limit), months=_month_filter(months)), [user_id])
        if tool == "listening_stats" and isinstance(params, StatsParams):
            return await self._stats(params, user_id, months, snapshot)
        if tool == "hourly_pattern":
            where, args = _day_filter(params)
            return await self._read(rb.HOURS, months, snapshot, _HOURS.format(days=where), [user_id, *args])
        return None

    async def _top(self, params: TopParams, user_id: str, months: list[str], snapshot: int, monthly: str, window: str,
                   combined: str, ranked: str) -> Plan | None:
        if not whole_months(params):
            return None
        span = calendar_months(params)
        if span == 1:
            return await self._read(monthly, months, snapshot, ranked.format(window=_month_filter(months)),
                                    [user_id, params.limit])
        if self.windows and span in rb.WINDOWS and params.end is not None and params.limit <= rb.TOP_N:
            end = f"{params.end.year:04d}-{params.end.month:02d}"
            if end in await self.catalog.months(snapshot, window) and \
                    set(months) <= set(await self.catalog.months(snapshot, monthly)):
                return await self._read(window, [end], snapshot,
                                        ranked.format(window=" AND end_month = ? AND window_months = ?"),
                                        [user_id, end, span, params.limit])
        # The combination reads the full per-track counts (tracks table for artists too:
        # unique_tracks is a distinct count and does not add across months).
        return await self._read(rb.TRACKS_MONTHLY, months, snapshot, combined.format(
            limit=int(params.limit), months=_month_filter(months)), [user_id])

    async def _stats(self, params: StatsParams, user_id: str, months: list[str], snapshot: int) -> Plan | None:
        if params.granularity == "day":
            where, args = _day_filter(params)
            return await self._read(rb.DAYS, months, snapshot, _DAYS.format(days=where), [user_id, *args])
        if params.granularity == "month" and whole_months(params):
            plan = await self._read(rb.MONTHS, months, snapshot, _MONTHS.format(months=_month_filter(months)), [user_id])
            if plan is None:
                return None
            # The statement over a few dozen in-memory rows costs DuckDB milliseconds; pyarrow does it in µs.
            table = await self.catalog.table(snapshot, rb.MONTHS)
            return Plan(plan.table, plan.sql, plan.args, plan.template, answer=months_answer(table, user_id, months))
        where, args = _day_filter(params)
        fmt = PERIOD_FORMATS[params.granularity]
        return await self._read(rb.DAY_TRACKS, months, snapshot, _PERIODS.format(fmt=fmt, days=where), [user_id, *args])

    async def _read(self, table: str, months: list[str], snapshot: int, sql: str, args: list[Any]) -> Plan | None:
        """``sql`` over ``table`` at ``snapshot``, if the table has every one of ``months``."""
        if not set(months) <= set(await self.catalog.months(snapshot, table)):
            return None
        return Plan(table, sql.replace("{rel}", ref(table, snapshot)), args, sql)


def months_answer(table: pa.Table, user_id: str, months: list[str]) -> pa.Table:
    """``_MONTHS`` over the in-memory ``rollup_months`` rows: the user's rows of exactly these
    months, ordered by period ('YYYY-MM', so by year and month), with the statement's columns."""
    import pyarrow.compute as pc

    wanted = pa.array([rb.month_index(m) for m in months], pa.int64())
    index = pc.add(pc.multiply(pc.cast(table["year"], pa.int64()), 12), pc.subtract(pc.cast(table["month"], pa.int64()), 1))
    rows = table.filter(pc.and_(pc.equal(table["user_id"], user_id), pc.is_in(index, value_set=wanted)))
    rows = rows.sort_by([("year", "ascending"), ("month", "ascending")])
    period = [f"{y:04d}-{m:02d}" for y, m in zip(rows["year"].to_pylist(), rows["month"].to_pylist())]
    return pa.table({"period": pa.array(period, pa.string()), "total_ms": rows["total_ms"], "track_count": rows["plays"],
                     "unique_tracks": rows["unique_tracks"]})


def _with_relations(cur: Any, plan: Plan) -> pa.Table:
    """Run ``plan.sql`` with its in-memory relations registered on this cursor (then dropped)."""
    for name, table in plan.relations.items():
        cur.register(name, table)
    try:
        return cur.execute(plan.sql, plan.args).to_arrow_table()
    finally:
        for name in plan.relations:
            cur.unregister(name)


# {rel} is substituted last (file paths may contain braces); the rest are str.format fields.
_TRACKS_RANKED = """
    SELECT track_name, artist_name AS artist, play_count, round(total_play_time_ms / 60000.0, 2) AS total_minutes
    FROM {{rel}} WHERE user_id = ?{window} AND rank <= ? ORDER BY rank"""

_ARTISTS_RANKED = """
    SELECT artist_name AS artist, play_count, round(total_play_time_ms / 60000.0, 2) AS total_minutes, unique_tracks
    FROM {{rel}} WHERE user_id = ?{window} AND rank <= ? ORDER BY rank"""

_TRACKS_COMBINED = """
    SELECT track_name, artist_name AS artist, CAST(sum(play_count) AS BIGINT) AS play_count,
           round(sum(total_play_time_ms) / 60000.0, 2) AS total_minutes
    FROM {{rel}} WHERE user_id = ?{months}
    GROUP BY track_name, artist_name
    ORDER BY play_count DESC, sum(total_play_time_ms) DESC, track_name, artist_name LIMIT {limit}"""

_ARTISTS_COMBINED = """
    SELECT artist_name AS artist, CAST(sum(play_count) AS BIGINT) AS play_count,
           round(sum(total_play_time_ms) / 60000.0, 2) AS total_minutes, count(DISTINCT track_name) AS unique_tracks
    FROM {{rel}} WHERE user_id = ?{months}
    GROUP BY artist_name
    ORDER BY play_count DESC, sum(total_play_time_ms) DESC, artist_name LIMIT {limit}"""

_GENRES_COMBINED = """
    SELECT genre, CAST(sum(plays) AS BIGINT) AS play_count, round(sum(total_ms) / 60000.0, 2) AS total_minutes,
           count(DISTINCT artist_name) AS artists
    FROM {{rel}} WHERE user_id = ?{months}
    GROUP BY genre ORDER BY play_count DESC, sum(total_ms) DESC, genre LIMIT {limit}"""

_DAYS = """
    SELECT strftime(day, '%Y-%m-%d') AS period, total_ms, plays AS track_count,
           unique_tracks
    FROM {{rel}} WHERE user_id = ?{days} ORDER BY period"""

_MONTHS = """
    SELECT printf('%04d-%02d', year, month) AS period, total_ms, plays AS track_count,
           unique_tracks
    FROM {{rel}} WHERE user_id = ?{months} ORDER BY period"""

_PERIODS = """
    SELECT strftime(day, '{fmt}') AS period, CAST(sum(total_ms) AS BIGINT) AS total_ms, CAST(sum(plays) AS BIGINT) AS track_count,
           count(DISTINCT (track_name, artist_name)) AS unique_tracks
    FROM {{rel}} WHERE user_id = ?{days} GROUP BY period ORDER BY period"""

_HOURS = """
    SELECT CAST(isodow(day) AS INTEGER) AS weekday, hour, CAST(sum(plays) AS BIGINT) AS play_count,
           round(sum(total_ms) / 60000.0, 2) AS total_minutes
    FROM {{rel}} WHERE user_id = ?{days} GROUP BY weekday, hour ORDER BY weekday, hour"""
