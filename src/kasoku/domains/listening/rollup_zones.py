"""Answers in any time zone and under both play rules from the rollup_local.py tables — exactly.

A local range is the instants ``[lo, hi)``. :func:`pieces` cuts it into whole UTC months,
whole UTC days outside them, and at most two partial edges. Track-grained answers (top tracks,
artists, albums, genres, overview totals, year totals, discoveries) sum the month rows, the
day rows and the edge plays counted raw — the same groups and integer sums the raw query
makes, so the same rows (docs/rollups.md). Local hour, weekday and day counts sum UTC
quarter-hour slots (``timezone(tz, slot)`` is the slot's local start; a play lies in the same
local hour and day as its slot when every offset is a multiple of 15 min, checked per year).

``min_ms`` 0 and 30000 read the roll-ups' two sets of columns; any other value goes raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pyarrow as pa

from kasoku.domains.listening import rollup_local as rl
from kasoku.domains.listening.play_index import PlayIndex, PlayIndexes
from kasoku.domains.listening.pages import YearParams
from kasoku.domains.listening.statistics import ARTIST_ID, DiscoveriesParams, StreaksParams, previous_range
from kasoku.domains.listening.tools import (RangeParams, StatsParams, TopParams, local_time, min_ms_of, range_bounds,
                                            zone_of)
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.tables import ARTISTS, PLAYS, ref
from kasoku.domains.listening.zones import OPEN_SPAN, quarter_hour_aligned, utc_equivalent

# The column whose UTC month places a row of each table in its month (its partition).
_MONTH_COLUMN = {PLAYS: "played_at", rl.TRACK_MONTHS: "first_at", rl.TRACK_DAYS: "day", rl.QUARTER_HOURS: "slot"}


@dataclass
class Pieces:
    """A range of instants as whole UTC months + whole UTC days + partial edges."""

    months: tuple[date | None, date | None] | None = None  # [first month start, end month start) ; None = none
    days: list[tuple[date | None, date | None]] = field(default_factory=list)  # [a, b) day spans
    edges: list[tuple[datetime | None, datetime | None]] = field(default_factory=list)  # raw [a, b) spans


def _ceil_day(t: datetime) -> date:
    d = t.date()
    return d if t == datetime.combine(d, time.min, tzinfo=timezone.utc) else d + timedelta(days=1)


def _month_ceil(d: date) -> date:
    if d.day == 1:
        return d
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _utc(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def pieces(lo: datetime | None, hi: datetime | None) -> Pieces:
    lo, hi = (lo.astimezone(timezone.utc) if lo else None), (hi.astimezone(timezone.utc) if hi else None)
    d0 = _ceil_day(lo) if lo is not None else None
    d1 = hi.date() if hi is not None else None
    if d0 is not None and d1 is not None and d0 >= d1:
        return Pieces(edges=[(lo, hi)] if lo < hi else [])  # type: ignore[operator]
    out = Pieces()
    if lo is not None and d0 is not None and lo < _utc(d0):
        out.edges.append((lo, _utc(d0)))
    if hi is not None and d1 is not None and _utc(d1) < hi:
        out.edges.append((_utc(d1), hi))
    m0 = _month_ceil(d0) if d0 is not None else None
    m1 = d1.replace(day=1) if d1 is not None else None
    if m0 is not None and m1 is not None and m0 >= m1:
        out.days.append((d0, d1))
        return out
    out.months = (m0, m1)
    if d0 is not None and m0 is not None and d0 < m0:
        out.days.append((d0, m0))
    if m1 is not None and d1 is not None and m1 < d1:
        out.days.append((m1, d1))
    return out


def _month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _months_of(lake_months: list[str], a: date | None, b: date | None) -> list[str]:
    """Present months with a day in [a, b) (None = open)."""
    lo = _month_key(a) if a is not None else "0000-00"
    hi = _month_key(b - timedelta(days=1)) if b is not None else "9999-99"
    return [m for m in lake_months if lo <= m <= hi]


class Args:
    """Numbered SQL parameters (``$n``): the user is ``$1`` and may be used many times."""

    def __init__(self, user: str) -> None:
        self.values: list[Any] = [user]

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _used_only(sql: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Renumber ``$n`` so only the arguments the SQL uses are passed (DuckDB rejects unused
    ones; in-memory relations replace pieces that used some). Names and literals in these
    statements never contain ``$``."""
    used = sorted({int(m) for m in re.findall(r"\$(\d+)", sql)})
    if len(used) == len(values):
        return sql, values
    number = {n: i + 1 for i, n in enumerate(used)}
    return re.sub(r"\$(\d+)", lambda m: f"${number[int(m.group(1))]}", sql), [values[n - 1] for n in used]


class Unavailable(Exception):
    """A partition the plan needs is missing: answer raw."""


class ZoneRollups:
    """Plans over the any-zone roll-ups at a snapshot; ``plan`` returns (sql, args) or None (raw)."""

    def __init__(self, catalog: SnapshotCatalog, *, memory: bool = True, wait: bool = True) -> None:
        """``memory``: read the row sources from the in-memory play index (play_index.py) instead
        of the DuckLake tables (the same rows; the benchmark and tests compare both). ``wait``:
        a request waits for the index being built (tests, benchmarks); the server does not."""
        self.catalog = catalog
        self.wait = wait
        self.indexes = PlayIndexes(catalog.pool) if memory else None

    async def plan(self, tool: str, p: RangeParams, user: str, snapshot: int) -> Planned | None:
        if min_ms_of(p) not in rl.RULES:
            return None
        tables = (PLAYS, *rl.LOCAL_TABLES)
        months = {t: await self.catalog.months(snapshot, t) for t in tables}
        artists = await self.catalog.has_rows(snapshot, ARTISTS) if tool == "top_genres" else False
        planner = ZonePlanner(snapshot, months, artists)
        planned = planner.plan(tool, p, user)
        if planned is None:  # the DuckLake plan decides whether roll-ups answer
            return None
        if self.indexes is not None and tool in INDEXED:
            index = await self.indexes.get(snapshot, user, wait=self.wait)
            if index is not None:
                span = planner.span()

                def from_index(_cur: Any) -> Planned | None:
                    answer = direct_answer(index, tool, p, span)
                    if answer is not None:
                        return Planned(planned.sql, planned.args, answer=answer)
                    return ZonePlanner(snapshot, months, artists, index).plan(tool, p, user)

                # NumPy work off the event loop, on the pool's workers like every query.
                return await self.catalog.pool.run(from_index)
        return planned


# Tools whose row sources the in-memory index gives (listening_stats keeps the track days).
INDEXED = frozenset({"top_tracks", "top_artists", "top_albums", "top_genres", "overview", "discoveries",
                     "hourly_pattern", "streaks", "year_in_review"})


@dataclass
class Planned:
    """SQL, its arguments, and the in-memory relations it reads by name (registered to run it)."""

    sql: str
    args: list[Any]
    relations: dict[str, pa.Table] = field(default_factory=dict)
    answer: pa.Table | None = None  # computed already (index_answers.py): the SQL need not run


def direct_answer(index: PlayIndex, tool: str, p: RangeParams, span: tuple[int, int]) -> pa.Table | None:
    """The answer from the index without SQL, for the tools index_answers.py states; else None."""
    from kasoku.domains.listening import index_answers as ia

    rule, tz = min_ms_of(p), zone_of(p)
    lo, hi = range_bounds(p)
    try:
        if tool in ("top_tracks", "top_artists", "top_albums"):
            assert isinstance(p, TopParams)
            plays, ms, _ = index.sums(lo, hi, rule)
            return {"top_tracks": ia.top_tracks, "top_artists": ia.top_artists, "top_albums": ia.top_albums}[tool](
                index, plays, ms, int(p.limit))
        if tool == "hourly_pattern":
            return ia.hourly(index, lo, hi, rule, tz, span)
        if tool == "overview":
            rows = [("current", p.start, p.end, ia.overview_row(index, lo, hi, rule, tz, span))]
            prev = previous_range(p)
            if prev is not None:
                plo, phi = range_bounds(prev)
                rows.append(("previous", prev.start, prev.end, ia.overview_row(index, plo, phi, rule, tz, span)))
            return ia.overview(rows)
        if tool == "year_in_review":
            assert isinstance(p, YearParams) and lo is not None and hi is not None
            return ia.year(index, p.year, lo, hi, rule, tz)
    except ia.Fallback:
        return None
    return None


class ZonePlanner:
    """One plan over the tables as they were at ``snapshot`` (every table read ``AT (VERSION => s)``,
    filtered to the UTC months the plan needs, like rollup_match's month filters)."""

    def __init__(self, snapshot: int, months: dict[str, tuple[str, ...]], has_artists: bool = False,
                 index: PlayIndex | None = None) -> None:
        self.snapshot = snapshot
        self._months = months
        self.has_artists = has_artists
        self.index = index
        self.relations: dict[str, pa.Table] = {}
        self.params: RangeParams | None = None

    def relation(self, table: pa.Table) -> str:
        """A name for an in-memory relation of this plan."""
        name = f"ix_{len(self.relations)}_{id(self) & 0xFFFFFF:x}"
        self.relations[name] = table
        return name

    def span(self) -> tuple[int, int]:
        """The years whose offsets local_time() writes into the SQL (zones.local_sql)."""
        p = self.params
        assert p is not None
        return (p.start.year - 1 if p.start is not None else OPEN_SPAN[0],
                p.end.year + 1 if p.end is not None else OPEN_SPAN[1])

    def months(self, table: str) -> list[str]:
        return list(self._months.get(table, ()))

    def _rel(self, table: str, months: list[str]) -> str:
        from kasoku.domains.listening.rollup_build import day_in, played_in

        if not months:
            return ""
        if table != PLAYS and not set(months) <= set(self.months(table)):
            raise Unavailable(table)
        column = _MONTH_COLUMN[table]
        where = day_in(months) if column == "day" else played_in(months, column)
        return f"(SELECT * FROM {ref(table, self.snapshot)} WHERE {where})"

    # ---------------------------------------------------------------- row sources
    def track_rows(self, a: Args, lo: datetime | None, hi: datetime | None, rule: int, *, times: bool = False) -> str:
        """SQL of (track_id, track_name, artist_name, album_name, plays, ms, first_at, last_at) over [lo, hi);
        from the index: one row per key, ``first_at`` only with ``times`` (and never ``last_at``)."""
        if self.index is None:
            return self._track_rows(a, lo, hi, rule)
        self._track_rows(Args(""), lo, hi, rule)  # checks the roll-ups' months are present (else Unavailable)
        name = self.relation(self.index.track_rows(lo, hi, rule, times=times))
        return f"SELECT * FROM {name}"

    def _track_rows(self, a: Args, lo: datetime | None, hi: datetime | None, rule: int) -> str:
        sfx = "_30s" if rule else ""
        present = self.months(PLAYS)
        cols = (f"track_id{sfx} AS track_id, track_name, artist_name, album_name, plays{sfx} AS plays, "
                f"total_ms{sfx} AS ms, first_at{sfx} AS first_at, last_at{sfx} AS last_at")
        parts: list[str] = []
        cut = pieces(lo, hi)
        if cut.months is not None:
            rel = self._rel(rl.TRACK_MONTHS, _months_of(present, *cut.months))
            if rel:
                parts.append(f"SELECT {cols} FROM {rel} WHERE user_id = $1 AND plays{sfx} > 0")
        for da, db in cut.days:
            rel = self._rel(rl.TRACK_DAYS, _months_of(present, da, db))
            if rel:
                bounds = " AND ".join(x for x in (f"day >= {a(da)}" if da else "", f"day < {a(db)}" if db else "") if x)
                parts.append(f"SELECT {cols} FROM {rel} WHERE user_id = $1 AND plays{sfx} > 0 AND {bounds}")
        for ea, eb in cut.edges:
            months = _months_of(present, ea.date() if ea else None, (eb - timedelta(microseconds=1)).date() + timedelta(days=1)
                                if eb else None)
            rel = self._rel(PLAYS, months)
            if rel:
                bounds = [f"played_at >= {a(ea)}" if ea else "", f"played_at < {a(eb)}" if eb else "",
                          f"ms_played >= {a(rule)}" if rule else ""]
                parts.append("SELECT track_id, track_name, artist_name, album_name, 1 AS plays, ms_played AS ms, "
                             f"played_at AS first_at, played_at AS last_at FROM {rel} WHERE user_id = $1 AND "
                             + " AND ".join(x for x in bounds if x))
        if not parts:
            return ("SELECT NULL::VARCHAR AS track_id, NULL::VARCHAR AS track_name, NULL::VARCHAR AS artist_name, "
                    "NULL::VARCHAR AS album_name, 0::BIGINT AS plays, 0::BIGINT AS ms, NULL::TIMESTAMPTZ AS first_at, "
                    "NULL::TIMESTAMPTZ AS last_at WHERE false")
        return " UNION ALL ".join(parts)

    def slot_rows(self, a: Args, lo: datetime | None, hi: datetime | None, rule: int, grain: str = "hour") -> str:
        """SQL of (slot, plays, ms) quarter-hours with counted plays in [lo, hi); from the index,
        summed per local ``grain`` (play_index.PlayIndex.slot_rows: one row per local hour, day or
        weekday-hour, which is all the callers group by)."""
        if self.index is None:
            return self._slot_rows(a, lo, hi, rule)
        self._slot_rows(Args(""), lo, hi, rule)  # Unavailable without the quarter-hours' months
        assert self.params is not None
        rows = self.index.slot_rows(lo, hi, rule, zone_of(self.params), self.span(), grain)
        return self._slot_rows(a, lo, hi, rule) if rows is None else f"SELECT * FROM {self.relation(rows)}"

    def _slot_rows(self, a: Args, lo: datetime | None, hi: datetime | None, rule: int) -> str:
        sfx = "_30s" if rule else ""
        first = lo.date() if lo else None
        last = (hi - timedelta(microseconds=1)).date() + timedelta(days=1) if hi else None
        rel = self._rel(rl.QUARTER_HOURS, _months_of(self.months(PLAYS), first, last))
        if not rel:
            return "SELECT NULL::TIMESTAMPTZ AS slot, 0::BIGINT AS plays, 0::BIGINT AS ms WHERE false"
        bounds = "".join([f" AND slot >= {a(lo)}" if lo else "", f" AND slot < {a(hi)}" if hi else ""])
        return f"SELECT slot, plays{sfx} AS plays, total_ms{sfx} AS ms FROM {rel} WHERE user_id = $1 AND plays{sfx} > 0{bounds}"

    # ---------------------------------------------------------------- choosing
    def plan(self, tool: str, p: RangeParams, user: str) -> Planned | None:
        self.params, self.relations = p, {}
        rule = min_ms_of(p)
        if rule not in rl.RULES:
            return None
        present = self.months(PLAYS)
        if not present:
            return None
        years = (int(present[0][:4]) - 1, int(present[-1][:4]) + 1)
        slots_ok = quarter_hour_aligned(zone_of(p), *years)
        build = {"top_tracks": self._top_tracks, "top_artists": self._top_artists, "top_albums": self._top_albums,
                 "top_genres": self._top_genres, "overview": self._overview, "discoveries": self._discoveries}.get(tool)
        if tool in ("hourly_pattern", "streaks", "year_in_review") and slots_ok:
            build = {"hourly_pattern": self._hours, "streaks": self._streaks, "year_in_review": self._year}[tool]
        if tool == "overview" and not slots_ok:
            build = None
        if tool == "listening_stats" and utc_equivalent(zone_of(p), *years):
            build = self._stats
        if build is None:
            return None
        a = Args(user)
        try:
            sql = build(a, p, rule)
        except Unavailable:
            return None
        return Planned(*_used_only(sql, a.values), dict(self.relations))

    # ---------------------------------------------------------------- answers
    def _top(self, a: Args, p: RangeParams, rule: int, select: str) -> str:
        lo, hi = range_bounds(p)
        return f"WITH tr AS ({self.track_rows(a, lo, hi, rule)}) {select}"

    def _top_tracks(self, a: Args, p: RangeParams, rule: int) -> str:
        assert isinstance(p, TopParams)
        return self._top(a, p, rule, f"""
            SELECT track_name, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                   round(sum(ms) / 60000.0, 2) AS total_minutes
            FROM tr GROUP BY track_name, artist_name
            ORDER BY play_count DESC, sum(ms) DESC, track_name, artist_name LIMIT {int(p.limit)}""")

    def _top_artists(self, a: Args, p: RangeParams, rule: int) -> str:
        assert isinstance(p, TopParams)
        return self._top(a, p, rule, f"""
            SELECT artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                   round(sum(ms) / 60000.0, 2) AS total_minutes, count(DISTINCT track_name) AS unique_tracks
            FROM tr GROUP BY artist_name
            ORDER BY play_count DESC, sum(ms) DESC, artist_name LIMIT {int(p.limit)}""")

    def _top_albums(self, a: Args, p: RangeParams, rule: int) -> str:
        assert isinstance(p, TopParams)
        return self._top(a, p, rule, f"""
            SELECT album_name AS album, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                   round(coalesce(sum(ms), 0) / 60000.0, 2) AS total_minutes, count(DISTINCT track_name) AS unique_tracks
            FROM tr WHERE album_name IS NOT NULL GROUP BY album_name, artist_name
            ORDER BY play_count DESC, sum(ms) DESC, album_name, artist_name LIMIT {int(p.limit)}""")

    def _top_genres(self, a: Args, p: RangeParams, rule: int) -> str:
        from kasoku.domains.listening.source import NO_GENRES
        from kasoku.domains.listening.tools import GENRES_RELATION
        from kasoku.errors import NotFound

        assert isinstance(p, TopParams)
        if not self.has_artists:  # NotFound without artist objects, as raw
            raise NotFound(NO_GENRES, details={"table": ARTISTS})
        genres = f"SELECT DISTINCT artist_name, unnest(genres) AS genre FROM {ref(ARTISTS, self.snapshot)}"
        lo, hi = range_bounds(p)
        return f"""WITH tr AS ({self.track_rows(a, lo, hi, rule)}), {GENRES_RELATION} AS ({genres})
            SELECT g.genre, CAST(sum(plays) AS BIGINT) AS play_count, round(sum(ms) / 60000.0, 2) AS total_minutes,
                   count(DISTINCT artist_name) AS artists
            FROM tr JOIN {GENRES_RELATION} g USING (artist_name)
            GROUP BY g.genre ORDER BY play_count DESC, sum(ms) DESC, g.genre LIMIT {int(p.limit)}"""

    def _hours(self, a: Args, p: RangeParams, rule: int) -> str:
        lo, hi = range_bounds(p)
        local = local_time(p, "slot")
        return f"""
            SELECT CAST(isodow({local}) AS INTEGER) AS weekday, CAST(hour({local}) AS INTEGER) AS hour,
                   CAST(sum(plays) AS BIGINT) AS play_count, round(sum(ms) / 60000.0, 2) AS total_minutes
            FROM ({self.slot_rows(a, lo, hi, rule, "weekday_hour")}) GROUP BY weekday, hour ORDER BY weekday, hour"""

    def _stats(self, a: Args, p: RangeParams, rule: int) -> str:
        """Zones that are UTC throughout: local days are UTC days, per-day track rows answer."""
        from kasoku.domains.listening.tools import PERIOD_FORMATS

        assert isinstance(p, StatsParams)
        sfx = "_30s" if rule else ""
        lo, hi = range_bounds(p)
        first = lo.date() if lo else None
        last = hi.date() if hi else None
        rel = self._rel(rl.TRACK_DAYS, _months_of(self.months(PLAYS), first, last))
        if not rel:
            raise Unavailable(rl.TRACK_DAYS)
        bounds = "".join([f" AND day >= {a(first)}" if first else "", f" AND day < {a(last)}" if last else ""])
        return f"""
            SELECT strftime(day, '{PERIOD_FORMATS[p.granularity]}') AS period, CAST(sum(total_ms{sfx}) AS BIGINT) AS total_ms,
                   CAST(sum(plays{sfx}) AS BIGINT) AS track_count, count(DISTINCT (track_name, artist_name)) AS unique_tracks
            FROM {rel} WHERE user_id = $1 AND plays{sfx} > 0{bounds} GROUP BY period ORDER BY period"""

    def _overview_row(self, a: Args, p: RangeParams, rule: int, period: str, bounds: RangeParams) -> str:
        lo, hi = range_bounds(bounds)
        start = f"CAST({a(bounds.start)} AS DATE)" if bounds.start else "CAST(NULL AS DATE)"
        end = f"CAST({a(bounds.end)} AS DATE)" if bounds.end else "CAST(NULL AS DATE)"
        return f"""
            SELECT '{period}' AS period, {start} AS start, {end} AS "end", CAST(coalesce(sum(plays), 0) AS BIGINT) AS plays,
                   round(coalesce(sum(ms), 0) / 60000.0, 2) AS minutes, count(DISTINCT (track_name, artist_name)) AS tracks,
                   count(DISTINCT artist_name) AS artists,
                   count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL) AS albums,
                   (SELECT count(DISTINCT CAST({local_time(p, 'slot')} AS DATE)) FROM ({self.slot_rows(a, lo, hi, rule, "day")}))
                       AS days_listened
            FROM ({self.track_rows(a, lo, hi, rule)})"""

    def _overview(self, a: Args, p: RangeParams, rule: int) -> str:
        sql = self._overview_row(a, p, rule, "current", p)
        prev = previous_range(p)
        if prev is not None:
            sql += " UNION ALL " + self._overview_row(a, p, rule, "previous", prev)
        return f"SELECT * FROM ({sql}) ORDER BY period"

    def _streaks(self, a: Args, p: RangeParams, rule: int) -> str:
        assert isinstance(p, StreaksParams)
        lo, hi = range_bounds(p)
        return f"""
            WITH d AS (SELECT CAST({local_time(p, 'slot')} AS DATE) AS day, CAST(sum(plays) AS BIGINT) AS plays
                       FROM ({self.slot_rows(a, lo, hi, rule, "day")}) GROUP BY day),
                 g AS (SELECT day, plays, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS grp FROM d)
            SELECT min(day) AS start, max(day) AS "end", count(*) AS days, CAST(sum(plays) AS BIGINT) AS plays
            FROM g GROUP BY grp ORDER BY days DESC, start DESC LIMIT {int(p.limit)}"""

    def _discoveries(self, a: Args, p: RangeParams, rule: int) -> str:
        """Items of the range with no counted play before it (``first_at`` gives the first play)."""
        assert isinstance(p, DiscoveriesParams)
        lo, hi = range_bounds(p)
        if p.kind == "tracks":
            key, cols, order = "track_name, artist_name", "min(track_id) AS track_id, track_name, artist_name AS artist", \
                "track_name, artist"
        else:
            key, cols, order = "artist_name", f"min({ARTIST_ID}) AS artist_id, artist_name AS artist", "artist"
        tr = self.track_rows(a, lo, hi, rule, times=True)
        older = (f"ANTI JOIN (SELECT DISTINCT {key} FROM ({self.track_rows(a, None, lo, rule)})) h USING ({key})"
                 if lo is not None else "")
        return f"""
            SELECT {cols}, min(first_at) AS first_play, CAST(sum(plays) AS BIGINT) AS play_count
            FROM ({tr}) {older} GROUP BY {key}
            ORDER BY play_count DESC, first_play, {order} LIMIT {int(p.limit)}"""

    def _year(self, a: Args, p: RangeParams, rule: int) -> str:
        from kasoku.domains.listening.year_rollup import year_sql

        assert isinstance(p, YearParams)
        lo, hi = range_bounds(p)
        return year_sql(self, a, p, rule, lo, hi)

