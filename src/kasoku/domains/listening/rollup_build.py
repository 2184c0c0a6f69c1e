"""Roll-ups: per-month pre-aggregates of plays, rebuilt with SQL inside the ingest's transaction.

Every roll-up holds FULL counts (never a truncated top-N), so any whole-month range is the
sum of its months and the answer equals the raw GROUP BY exactly (docs/rollups.md). The
tables (DuckLake tables beside ``plays``, see tables.py) hold every user of a month:

- ``rollup_tracks_monthly``  user_id, year, month, track_id, track_name, artist_name,
  play_count, total_play_time_ms, rank — one row per (track_name, artist_name).
- ``rollup_artists_monthly`` per artist: play_count, total_play_time_ms, unique_tracks, rank.
- ``rollup_months`` / ``rollup_days`` per user-month / user-day: plays, total_ms, unique_tracks.
- ``rollup_day_tracks``      per user-day-(track, artist): plays, total_ms.
- ``rollup_hours``           per user-day-hour: plays, total_ms.
- ``rollup_genres_monthly``  per (genre, artist): plays, total_ms — only when artist genres are known.
- ``rollup_tracks_window`` / ``rollup_artists_window``: 3-, 6- and 12-month windows keyed by
  their END month, ranked from full counts and cut to the first 100 ranks.

A refresh runs in the caller's transaction (the ingest's or ``rebuild``'s): for the touched
months, ``DELETE`` their rows and ``INSERT … SELECT`` them again from ``lake.plays`` as the
transaction sees it, so plays and roll-ups commit in one snapshot or not at all. All touched
months go in one statement per table; the windows of every end month are summed once (into
a temporary table, integer keys) and both window tables cut from those sums (docs/rollups.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb

from kasoku.domains.listening.rollup_local import LOCAL_SQL, LOCAL_TABLES
from kasoku.domains.listening.tables import (
    ARTISTS, ARTISTS_MONTHLY, ARTISTS_WINDOW, DAY_TRACKS, DAYS, GENRES_MONTHLY, HOURS, MONTHS, PLAYS, QUARTER_HOURS,
    TRACK_DAYS, TRACK_MONTHS, TRACKS_MONTHLY, TRACKS_WINDOW, months_of, ref)
from kasoku.lake.ducklake import Lake
from kasoku.lake.transaction import write

__all__ = ["ALL_TABLES", "ARTISTS", "ARTISTS_MONTHLY", "ARTISTS_WINDOW", "DAYS", "DAY_TRACKS", "FROM_PLAYS",
           "GENRES_MONTHLY", "HOURS", "MONTHS", "PLAYS", "TOP_N", "TRACKS_MONTHLY", "TRACKS_WINDOW", "WINDOWS",
           "RollupBuilder", "rebuild", "shift_month", "window_ends"]

WINDOWS = (3, 6, 12)
# Windows keep the first TOP_N ranks of each full ranking: the top tools' limit is at most 100,
# so ``rank <= limit`` of a window is exact (the ranking itself comes from full monthly counts).
TOP_N = 100
_LOCAL_CHUNK = 12  # months per statement building rollup_local.py's tables
# Built straight from a month's plays; the windows and genres are built from TRACKS_MONTHLY.
# The any-zone, both-rules tables of rollup_local.py are built from the month's plays too.
FROM_PLAYS = (TRACKS_MONTHLY, ARTISTS_MONTHLY, MONTHS, DAYS, DAY_TRACKS, HOURS, *LOCAL_TABLES)
ALL_TABLES = (*FROM_PLAYS, GENRES_MONTHLY, TRACKS_WINDOW, ARTISTS_WINDOW)
MonthProgress = Callable[[str], None]

_TRACK_ORDER = "count(*) DESC, sum(ms_played) DESC, track_name, artist_name"

# {src}: plays of the touched months with year/month columns (UTC).
_FROM_PLAYS_SQL: dict[str, str] = {
    TRACKS_MONTHLY: f"""
        SELECT user_id, year, month, min(track_id), track_name, artist_name, count(*), CAST(sum(ms_played) AS BIGINT),
               CAST(row_number() OVER (PARTITION BY user_id, year, month ORDER BY {_TRACK_ORDER}) AS INTEGER)
        FROM {{src}} GROUP BY user_id, year, month, track_name, artist_name""",
    ARTISTS_MONTHLY: """
        SELECT user_id, year, month, artist_name, count(*), CAST(sum(ms_played) AS BIGINT), count(DISTINCT track_name),
               CAST(row_number() OVER (PARTITION BY user_id, year, month
                                       ORDER BY count(*) DESC, sum(ms_played) DESC, artist_name) AS INTEGER)
        FROM {src} GROUP BY user_id, year, month, artist_name""",
    MONTHS: """
        SELECT user_id, year, month, count(*), CAST(sum(ms_played) AS BIGINT), count(DISTINCT (track_name, artist_name))
        FROM {src} GROUP BY user_id, year, month""",
    DAYS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, count(*), CAST(sum(ms_played) AS BIGINT),
               count(DISTINCT (track_name, artist_name))
        FROM {src} GROUP BY user_id, day""",
    DAY_TRACKS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, track_name, artist_name, count(*), CAST(sum(ms_played) AS BIGINT)
        FROM {src} GROUP BY user_id, day, track_name, artist_name""",
    HOURS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, CAST(hour(played_at) AS INTEGER) AS hour, count(*),
               CAST(sum(ms_played) AS BIGINT)
        FROM {src} GROUP BY user_id, day, hour""",
}

_GENRES_SQL = f"""
    SELECT t.user_id, t.year, t.month, g.genre, t.artist_name, CAST(sum(t.play_count) AS BIGINT),
           CAST(sum(t.total_play_time_ms) AS BIGINT)
    FROM {ref(TRACKS_MONTHLY)} t JOIN (SELECT DISTINCT artist_name, unnest(genres) AS genre FROM {ref(ARTISTS)}) g
      USING (artist_name)
    WHERE {{where}} GROUP BY ALL"""

# Windows: the monthly track rows of the span, each under an integer key (names are joined
# back only for the rows that can rank), summed once per (end month, length, track) into
# ``window_sums``; the track and artist windows are both cut from those sums. A monthly row of
# month ``mi`` lies in the window (e, n) iff e = mi + d for some 0 <= d < n: a cross join with
# the 21 (d, n) pairs and a semi join on the wanted ends, no range join.
_WINDOW_KEYS = f"""
    CREATE OR REPLACE TEMP TABLE window_keys AS
    WITH t AS (SELECT DISTINCT user_id, track_name, artist_name FROM {ref(TRACKS_MONTHLY)}
               WHERE year * 12 + month - 1 BETWEEN $lo AND $hi),
         a AS (SELECT user_id, artist_name, CAST(row_number() OVER () AS INTEGER) AS ak
               FROM (SELECT DISTINCT user_id, artist_name FROM t)),
         u AS (SELECT user_id, CAST(row_number() OVER () AS INTEGER) AS uk FROM (SELECT DISTINCT user_id FROM t))
    SELECT CAST(row_number() OVER () AS INTEGER) AS tk, u.uk, a.ak, t.user_id, t.track_name, t.artist_name
    FROM t JOIN a USING (user_id, artist_name) JOIN u USING (user_id)"""

_WINDOW_SUMS = f"""
    CREATE OR REPLACE TEMP TABLE window_sums AS
    WITH t AS (SELECT k.tk, k.uk, k.ak, m.year * 12 + m.month - 1 AS mi, m.track_id, m.play_count, m.total_play_time_ms
               FROM {ref(TRACKS_MONTHLY)} m JOIN window_keys k USING (user_id, track_name, artist_name)
               WHERE m.year * 12 + m.month - 1 BETWEEN $lo AND $hi),
         o AS (SELECT n, unnest(range(0, n)) AS d FROM unnest($lens) AS y(n))
    SELECT t.mi + o.d AS e, o.n, t.tk, t.uk, t.ak, min(t.track_id) AS track_id,
           sum(t.play_count) AS plays, sum(t.total_play_time_ms) AS ms
    FROM t CROSS JOIN o SEMI JOIN unnest($ends) AS z(e) ON t.mi + o.d = z.e
    GROUP BY ALL"""

_MONTH_NAME = "printf('%04d-%02d', ({i}) // 12, ({i}) % 12 + 1)"
_WINDOW_COLS = f"CAST(n AS INTEGER), {_MONTH_NAME.format(i='e - n + 1')}, {_MONTH_NAME.format(i='e')}"

# Only rows whose count reaches the $top-th largest count of their window (``max(plays, $top)``,
# an aggregate, no sort) can be among its first $top, ties included; the names break the
# remaining ties exactly as the raw query does.
_WINDOW_SQL: dict[str, str] = {
    TRACKS_WINDOW: f"""
        SELECT k.user_id, {_WINDOW_COLS}, w.track_id, k.track_name, k.artist_name, CAST(w.plays AS BIGINT),
               CAST(w.ms AS BIGINT),
               CAST(row_number() OVER (PARTITION BY w.uk, e, n ORDER BY w.plays DESC, w.ms DESC, k.track_name,
                                                                        k.artist_name) AS INTEGER) AS rank
        FROM window_sums w JOIN (SELECT uk, e, n, list_min(max(plays, $top)) AS least FROM window_sums GROUP BY uk, e, n) c
          USING (uk, e, n)
        JOIN window_keys k USING (tk)
        WHERE w.plays >= c.least
        QUALIFY rank <= $top""",
    # One window_sums row per (user, track_name, artist_name): an artist's rows count its distinct tracks.
    ARTISTS_WINDOW: f"""
        SELECT a.user_id, {_WINDOW_COLS}, a.artist_name, CAST(w.plays AS BIGINT), CAST(w.ms AS BIGINT), w.tracks,
               CAST(row_number() OVER (PARTITION BY w.uk, e, n ORDER BY w.plays DESC, w.ms DESC, a.artist_name)
                    AS INTEGER) AS rank
        FROM (WITH g AS (SELECT e, n, uk, ak, sum(plays) AS plays, sum(ms) AS ms, count(*) AS tracks
                         FROM window_sums GROUP BY e, n, uk, ak)
              SELECT g.* FROM g JOIN (SELECT uk, e, n, list_min(max(plays, $top)) AS least FROM g GROUP BY uk, e, n) c
                USING (uk, e, n) WHERE g.plays >= c.least) w
        JOIN (SELECT DISTINCT ak, user_id, artist_name FROM window_keys) a USING (ak)
        QUALIFY rank <= $top""",
}


def shift_month(month: str, delta: int) -> str:
    """'YYYY-MM' moved by ``delta`` months."""
    y, m = int(month[:4]), int(month[5:7])
    n = y * 12 + (m - 1) + delta
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def window_ends(touched: Iterable[str], present: Iterable[str]) -> list[str]:
    """End months of every materialised window that contains a touched month.

    Windows are kept for end months that hold plays; a window of up to 12 months ending at
    ``e`` contains ``m`` iff ``m <= e <= m + 11``.
    """
    touched = sorted(set(touched))
    return sorted(e for e in set(present) if any(m <= e <= shift_month(m, max(WINDOWS) - 1) for m in touched))


def _runs(months: Iterable[str]) -> list[tuple[str, str]]:
    """Sorted months as [first, last] runs of consecutive months."""
    out: list[tuple[str, str]] = []
    for m in sorted(set(months)):
        if out and shift_month(out[-1][1], 1) == m:
            out[-1] = (out[-1][0], m)
        else:
            out.append((m, m))
    return out


def played_in(months: Iterable[str], column: str = "played_at") -> str:
    """A pruning-friendly predicate: ``column`` (TIMESTAMPTZ, UTC) falls in one of ``months``."""
    parts = [f"({column} >= TIMESTAMPTZ '{a}-01 00:00:00+00' AND {column} < TIMESTAMPTZ '{shift_month(b, 1)}-01 00:00:00+00')"
             for a, b in _runs(months)]
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def day_in(months: Iterable[str]) -> str:
    parts = [f"(day >= DATE '{a}-01' AND day < DATE '{shift_month(b, 1)}-01')" for a, b in _runs(months)]
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def month_in(months: Iterable[str]) -> str:
    wanted = sorted({month_index(m) for m in months})
    return f"(year * 12 + month - 1) IN ({', '.join(map(str, wanted))})" if wanted else "false"


def end_in(months: Iterable[str]) -> str:
    wanted = sorted(set(months))
    return f"end_month IN ({', '.join(repr(m) for m in wanted)})" if wanted else "false"


@dataclass
class _Present:
    months: list[str]  # months holding plays now
    complete: bool  # every month but the touched ones has its roll-ups
    built: set[str]  # months that had roll-ups before this refresh (only known when complete)


def _present_months(con: duckdb.DuckDBPyConnection, touched: list[str]) -> _Present:
    """Which months hold plays, without reading every play: the untouched months come from
    ``rollup_months`` when its counts add up to the plays outside the touched months
    (``count(*)`` reads no column); only the touched months' plays are read. Roll-ups switched
    off for a while (``drop_only``) leave months without roll-ups: then the counts differ and
    the plays' months are read in full."""
    row = con.execute(f"""
        WITH r AS (SELECT printf('%04d-%02d', year, month) AS m, sum(plays) AS n FROM {ref(MONTHS)}
                   WHERE NOT {month_in(touched)} GROUP BY m),
             t AS (SELECT strftime(played_at, '%Y-%m') AS m, count(*) AS n FROM {ref(PLAYS)}
                   WHERE {played_in(touched)} GROUP BY m)
        SELECT (SELECT count(*) FROM {ref(PLAYS)}) = (SELECT coalesce(sum(n), 0) FROM r) + (SELECT coalesce(sum(n), 0) FROM t),
               (SELECT list(m ORDER BY m) FROM (SELECT m FROM r UNION SELECT m FROM t)),
               (SELECT list(m) FROM r),
               (SELECT list(DISTINCT printf('%04d-%02d', year, month)) FROM {ref(MONTHS)} WHERE {month_in(touched)})
        """).fetchone()
    if row is None or not row[0]:
        return _Present(months_of(con, PLAYS), False, set())
    return _Present(list(row[1] or []), True, set(row[2] or []) | set(row[3] or []))


def _has_rows(con: duckdb.DuckDBPyConnection, *tables: str) -> bool:
    row = con.execute("SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {ref(t)})" for t in tables)).fetchone()
    return bool(row and row[0])


def _where(table: str, months: Iterable[str]) -> str:
    months = list(months)
    if table == TRACK_MONTHS:
        return played_in(months, "first_at")
    if table == QUARTER_HOURS:
        return played_in(months, "slot")
    if table in (DAYS, DAY_TRACKS, HOURS, TRACK_DAYS):
        return day_in(months)
    if table in (TRACKS_WINDOW, ARTISTS_WINDOW):
        return end_in(months)
    return month_in(months)


@dataclass
class RollupBuilder:
    """Refreshes the roll-ups of touched months inside the caller's lake transaction.

    ``drop_only``: with roll-ups switched off, an ingest must still not leave roll-ups that
    disagree with the new plays, so the touched months' roll-ups (and windows over them) are
    deleted instead of rebuilt; the matcher then answers those ranges from raw plays.
    """

    drop_only: bool = False

    def __call__(self, con: duckdb.DuckDBPyConnection, touched: Iterable[str], *, artists_changed: bool = False,
                 progress: MonthProgress | None = None) -> list[str]:
        """Refresh (or drop) the roll-ups over ``touched`` months; return the tables changed."""
        touched = sorted(set(touched))
        if not touched and not artists_changed:
            return []
        if self.drop_only:
            return self._drop(con, touched, months_of(con, PLAYS), artists_changed)
        found = _present_months(con, touched)
        present = found.months
        # Windows need every month's tracks roll-up: months that never had one are built now.
        monthly = touched if found.complete else sorted(
            set(touched) | (set(present) - set(months_of(con, TRACKS_MONTHLY))))
        # Rows to delete first: a month that had no roll-ups (a new month) has none in any table.
        # (Statements cost catalog round trips: a one-day import into a new month skips them.)
        stale = [m for m in monthly if m in found.built] if found.complete else monthly
        changed: list[str] = []
        if monthly:
            src = (f"(SELECT user_id, CAST(year(played_at) AS INTEGER) AS year, CAST(month(played_at) AS INTEGER) AS month, "
                   f"played_at, ms_played, track_id, track_name, artist_name FROM {ref(PLAYS)} WHERE {played_in(monthly)})")
            for table, sql in _FROM_PLAYS_SQL.items():
                if stale:
                    con.execute(f"DELETE FROM {ref(table)} WHERE {_where(table, stale)}")
                con.execute(f"INSERT INTO {ref(table)} {sql.format(src=src)}")
                changed.append(table)
            # rollup_local.py's tables: up to a year of touched months per statement (``p`` = their
            # plays). A DuckLake statement costs catalog round trips, so one per month would
            # dominate a large import; a year per statement still shows a rebuild's progress.
            for table in LOCAL_TABLES:
                if stale:
                    con.execute(f"DELETE FROM {ref(table)} WHERE {_where(table, stale)}")
                changed.append(table)
            for i in range(0, len(monthly), _LOCAL_CHUNK):
                chunk = monthly[i:i + _LOCAL_CHUNK]
                month_plays = (f"p AS (SELECT user_id, played_at, ms_played, track_id, track_name, artist_name, "
                               f"album_name FROM {ref(PLAYS)} WHERE {played_in(chunk)})")
                for table, sql in LOCAL_SQL.items():
                    con.execute(f"INSERT INTO {ref(table)} BY NAME SELECT * FROM (WITH {month_plays} {sql})")
                if progress is not None:
                    for month in chunk:
                        progress(month)
        genre_months = present if artists_changed else monthly
        if genre_months and (artists_changed or _has_rows(con, ARTISTS, GENRES_MONTHLY)):
            con.execute(f"DELETE FROM {ref(GENRES_MONTHLY)} WHERE {_where(GENRES_MONTHLY, genre_months)}")
            con.execute(f"INSERT INTO {ref(GENRES_MONTHLY)} {_GENRES_SQL.format(where=month_in(genre_months))}")
            changed.append(GENRES_MONTHLY)
        ends = window_ends(monthly, present)
        stale_ends = window_ends(monthly, set(present) | set(monthly))  # ends whose months lost every play
        if stale_ends:
            idx = [month_index(e) for e in ends]
            args = {"ends": idx, "lens": list(WINDOWS), "lo": min(idx, default=0) - max(WINDOWS) + 1,
                    "hi": max(idx, default=0), "top": TOP_N}
            # Windows exist for end months that held plays before (unknown unless complete: all).
            had = [e for e in stale_ends if e in found.built] if found.complete else stale_ends
            for table in _WINDOW_SQL:
                if had:
                    con.execute(f"DELETE FROM {ref(table)} WHERE {end_in(had)}")
                changed.append(table)
            if ends:
                span = {"lo": args["lo"], "hi": args["hi"]}
                con.execute(_WINDOW_KEYS, span)
                con.execute(_WINDOW_SUMS, {**span, "ends": args["ends"], "lens": args["lens"]})
                try:
                    for table, sql in _WINDOW_SQL.items():
                        con.execute(f"INSERT INTO {ref(table)} {sql}", {"top": TOP_N})
                finally:
                    con.execute("DROP TABLE IF EXISTS window_sums")
                    con.execute("DROP TABLE IF EXISTS window_keys")
        return sorted(set(changed))

    @staticmethod
    def _drop(con: duckdb.DuckDBPyConnection, touched: list[str], present: list[str], artists_changed: bool) -> list[str]:
        for table in (*FROM_PLAYS, GENRES_MONTHLY):
            con.execute(f"DELETE FROM {ref(table)} WHERE {_where(table, touched)}")
        if artists_changed:
            con.execute(f"DELETE FROM {ref(GENRES_MONTHLY)}")
        for table in (TRACKS_WINDOW, ARTISTS_WINDOW):
            con.execute(f"DELETE FROM {ref(table)} WHERE {end_in(window_ends(touched, set(present) | set(touched)))}")
        return list(ALL_TABLES)


def rebuild(lake: Lake, months: Iterable[str] | None = None, *,
            progress: MonthProgress | None = None) -> tuple[list[str], int | None]:
    """Re-aggregate past data (the seed's backfill job): roll-ups of ``months`` (default: every
    plays month) from the plays the lake holds, in one transaction — a rebuild racing an ingest
    is retried on the ingest's snapshot, so it never leaves roll-ups disagreeing with plays.
    Returns (tables written, the snapshot made)."""
    from kasoku.domains.listening.tables import ensure_tables

    def body(con: duckdb.DuckDBPyConnection) -> tuple[list[str], bool]:
        ensure_tables(con)
        present = months_of(con, PLAYS)
        wanted = present if months is None else sorted(set(months) & set(present))
        tables = RollupBuilder()(con, wanted, artists_changed=True, progress=progress) if wanted else []
        return tables, bool(tables)

    done = write(lake, body, message="rollup rebuild")
    return done.value, done.snapshot
