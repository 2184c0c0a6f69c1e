"""Roll-ups (seed 000, C2): per-month pre-aggregates of plays, built at ingest and committed with them.

Every roll-up holds FULL counts (never a truncated top-N), so any whole-month range is the
sum of its months and the answer equals the raw GROUP BY exactly (docs/rollups.md). Tables,
all partitioned by month like ``plays`` and holding every user of that month:

- ``rollup_tracks_monthly``  the seed's columns: user_id, year, month, track_id, track_name,
  artist_name, play_count, total_play_time_ms, rank — one row per (track_name, artist_name);
  the seed's "monthly top-100" is its ``rank <= 100`` slice.
- ``rollup_artists_monthly`` per artist: play_count, total_play_time_ms, unique_tracks, rank.
- ``rollup_months``          per user-month: plays, total_ms, unique_tracks.
- ``rollup_days``            per user-day: plays, total_ms, unique_tracks.
- ``rollup_day_tracks``      per user-day-(track, artist): plays, total_ms (distinct counts over
  weeks and partial months come from here: distinct counts do not add).
- ``rollup_hours``           per user-day-hour: plays, total_ms (weekday derives from the day).
- ``rollup_genres_monthly``  per (genre, artist): plays, total_ms — only when artist genres are known.
- ``rollup_tracks_window`` / ``rollup_artists_window``: 3-, 6- and 12-month windows keyed by their
  END month (partition = end month, column ``window_months``), ranked from full counts and
  cut to the first 100 ranks (the most a top tool returns), so an aligned window is answered
  by reading ``rank <= limit`` with no GROUP BY at all.

The builder works on Arrow tables in a private DuckDB connection (never the query pool);
it only *adds* partitions to the ingest's ``changes``, so plays and roll-ups commit in one
atomic manifest swap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from kasoku.domains.listening.rollup_local import LOCAL_TABLES, build_local
from kasoku.lake.storage import Lake

PLAYS = "plays"
ARTISTS = "artists"
TRACKS_MONTHLY = "rollup_tracks_monthly"
ARTISTS_MONTHLY = "rollup_artists_monthly"
MONTHS = "rollup_months"
DAYS = "rollup_days"
DAY_TRACKS = "rollup_day_tracks"
HOURS = "rollup_hours"
GENRES_MONTHLY = "rollup_genres_monthly"
TRACKS_WINDOW = "rollup_tracks_window"
ARTISTS_WINDOW = "rollup_artists_window"
WINDOWS = (3, 6, 12)
# Windows keep the first TOP_N ranks of each full ranking: the top tools' limit is at most 100,
# so ``rank <= limit`` of a window is exact (the ranking itself comes from full monthly counts).
TOP_N = 100
# Built straight from a month's plays; the windows and genres are built from TRACKS_MONTHLY.
# The any-zone, both-rules tables of rollup_local.py are built from the month's plays too.
FROM_PLAYS = (TRACKS_MONTHLY, ARTISTS_MONTHLY, MONTHS, DAYS, DAY_TRACKS, HOURS, *LOCAL_TABLES)
ALL_TABLES = (*FROM_PLAYS, GENRES_MONTHLY, TRACKS_WINDOW, ARTISTS_WINDOW)

Changes = dict[str, dict[str, pa.Table | None]]
MonthProgress = Callable[[str], None]

_TRACK_ORDER = "count(*) DESC, sum(ms_played) DESC, track_name, artist_name"

_MONTHLY_SQL: dict[str, str] = {
    TRACKS_MONTHLY: f"""
        SELECT user_id, CAST($year AS INTEGER) AS year, CAST($month AS INTEGER) AS month, min(track_id) AS track_id, track_name, artist_name,
               count(*) AS play_count, CAST(sum(ms_played) AS BIGINT) AS total_play_time_ms,
               CAST(row_number() OVER (PARTITION BY user_id ORDER BY {_TRACK_ORDER}) AS INTEGER) AS rank
        FROM p GROUP BY user_id, track_name, artist_name ORDER BY user_id, rank""",
    ARTISTS_MONTHLY: """
        SELECT user_id, CAST($year AS INTEGER) AS year, CAST($month AS INTEGER) AS month, artist_name, count(*) AS play_count,
               CAST(sum(ms_played) AS BIGINT) AS total_play_time_ms, count(DISTINCT track_name) AS unique_tracks,
               CAST(row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, sum(ms_played) DESC, artist_name)
                    AS INTEGER) AS rank
        FROM p GROUP BY user_id, artist_name ORDER BY user_id, rank""",
    DAY_TRACKS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, track_name, artist_name, count(*) AS plays,
               CAST(sum(ms_played) AS BIGINT) AS total_ms
        FROM p GROUP BY ALL ORDER BY user_id, day, track_name, artist_name""",
    MONTHS: """
        SELECT user_id, CAST($year AS INTEGER) AS year, CAST($month AS INTEGER) AS month, count(*) AS plays,
               CAST(sum(ms_played) AS BIGINT) AS total_ms, count(DISTINCT (track_name, artist_name)) AS unique_tracks
        FROM p GROUP BY user_id ORDER BY user_id""",
    DAYS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, count(*) AS plays, CAST(sum(ms_played) AS BIGINT) AS total_ms,
               count(DISTINCT (track_name, artist_name)) AS unique_tracks
        FROM p GROUP BY ALL ORDER BY user_id, day""",
    HOURS: """
        SELECT user_id, CAST(played_at AS DATE) AS day, CAST(hour(played_at) AS INTEGER) AS hour, count(*) AS plays,
               CAST(sum(ms_played) AS BIGINT) AS total_ms
        FROM p GROUP BY ALL ORDER BY user_id, day, hour""",
}

_GENRES_SQL = """
    SELECT t.user_id, t.year, t.month, g.genre, t.artist_name, CAST(sum(t.play_count) AS BIGINT) AS plays,
           CAST(sum(t.total_play_time_ms) AS BIGINT) AS total_ms
    FROM t JOIN (SELECT DISTINCT artist_name, unnest(genres) AS genre FROM a) g USING (artist_name)
    GROUP BY ALL ORDER BY t.user_id, g.genre, t.artist_name"""

_WINDOW_SQL: dict[str, str] = {
    TRACKS_WINDOW: """
        SELECT user_id, CAST($len AS INTEGER) AS window_months, $start AS start_month, $end AS end_month, min(track_id) AS track_id,
               track_name, artist_name, CAST(sum(play_count) AS BIGINT) AS play_count,
               CAST(sum(total_play_time_ms) AS BIGINT) AS total_play_time_ms,
               CAST(row_number() OVER (PARTITION BY user_id ORDER BY sum(play_count) DESC, sum(total_play_time_ms) DESC,
                    track_name, artist_name) AS INTEGER) AS rank
        FROM t WHERE month_key >= $start AND month_key <= $end
        GROUP BY user_id, track_name, artist_name QUALIFY rank <= $top ORDER BY user_id, rank""",
    ARTISTS_WINDOW: """
        SELECT user_id, CAST($len AS INTEGER) AS window_months, $start AS start_month, $end AS end_month, artist_name,
               CAST(sum(play_count) AS BIGINT) AS play_count, CAST(sum(total_play_time_ms) AS BIGINT) AS total_play_time_ms,
               count(DISTINCT track_name) AS unique_tracks,
               CAST(row_number() OVER (PARTITION BY user_id ORDER BY sum(play_count) DESC, sum(total_play_time_ms) DESC,
                    artist_name) AS INTEGER) AS rank
        FROM t WHERE month_key >= $start AND month_key <= $end
        GROUP BY user_id, artist_name QUALIFY rank <= $top ORDER BY user_id, rank""",
}


def shift_month(month: str, delta: int) -> str:
    """'YYYY-MM' moved by ``delta`` months."""
    y, m = int(month[:4]), int(month[5:7])
    n = y * 12 + (m - 1) + delta
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def window_ends(touched: Iterable[str], present: Iterable[str]) -> list[str]:
    """End months of every materialised window that contains a touched month.

    Windows are kept for end months that hold plays; a window of up to 12 months ending at
    ``e`` contains ``m`` iff ``m <= e <= m + 11``.
    """
    touched = sorted(set(touched))
    return sorted(e for e in set(present) if any(m <= e <= shift_month(m, max(WINDOWS) - 1) for m in touched))


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone='UTC'")  # days and hours are UTC, as in the raw SQL
    return con


@dataclass
class RollupBuilder:
    """Adds roll-up partitions to an ingest's ``changes`` (the ``rollups=`` hook of ``ingest``).

    ``drop_only``: with roll-ups switched off, an ingest must still not leave roll-ups that
    disagree with the new plays, so the touched months' roll-ups (and windows over them) are
    dropped instead of rebuilt; the matcher then answers those ranges from raw plays.
    """

    drop_only: bool = False

    def __call__(self, lake: Lake, changes: Changes, touched: set[str]) -> list[str]:
        return self.add(lake, changes, touched)

    def add(self, lake: Lake, changes: Changes, touched: Iterable[str], progress: MonthProgress | None = None) -> list[str]:
        """Put the roll-ups of ``touched`` months into ``changes``; return the tables changed."""
        new_plays: Mapping[str, pa.Table | None] = changes.get(PLAYS, {})
        present = (set(lake.months(PLAYS)) | {m for m, t in new_plays.items() if t is not None and t.num_rows}) - {
            m for m, t in new_plays.items() if t is None or t.num_rows == 0}
        touched = set(touched)
        artists_changed = ARTISTS in changes
        if self.drop_only:
            return self._drop(lake, changes, touched, present, artists_changed)
        # Windows need every month's tracks roll-up: months that never had one are built now.
        monthly = sorted(touched | (present - set(lake.months(TRACKS_MONTHLY))))
        artists = self._artists(lake, changes)
        con = _connect()
        try:
            tracks: dict[str, pa.Table | None] = {}
            for month in monthly:
                plays = new_plays[month] if month in new_plays else lake.read(PLAYS, [month])
                built = self._month(con, month, plays)
                built.update(build_local(con, plays))
                for table, data in built.items():
                    changes.setdefault(table, {})[month] = data
                tracks[month] = built[TRACKS_MONTHLY]
                if progress is not None:
                    progress(month)
            genre_months = sorted(present) if artists_changed else monthly
            if artists is not None:
                for month in genre_months:
                    t = tracks[month] if month in tracks else lake.read(TRACKS_MONTHLY, [month])
                    changes.setdefault(GENRES_MONTHLY, {})[month] = self._genres(con, t, artists)
            for end in window_ends(monthly, present):
                for table, data in self._windows(con, lake, tracks, end).items():
                    changes.setdefault(table, {})[end] = data
        finally:
            con.close()
        return sorted(t for t in changes if t in ALL_TABLES)

    def _drop(self, lake: Lake, changes: Changes, touched: set[str], present: set[str], artists_changed: bool) -> list[str]:
        for table in (*FROM_PLAYS, GENRES_MONTHLY):
            for month in touched & set(lake.months(table)):
                changes.setdefault(table, {})[month] = None
        if artists_changed:
            for month in lake.months(GENRES_MONTHLY):
                changes.setdefault(GENRES_MONTHLY, {})[month] = None
        for table in (TRACKS_WINDOW, ARTISTS_WINDOW):
            for end in set(window_ends(touched, present | touched)) & set(lake.months(table)):
                changes.setdefault(table, {})[end] = None
        return sorted(t for t in changes if t in ALL_TABLES)

    @staticmethod
    def _artists(lake: Lake, changes: Changes) -> pa.Table | None:
        """The artists table as it will be after this commit (genres join by artist_name)."""
        if ARTISTS in changes:
            parts = [t for t in changes[ARTISTS].values() if t is not None and t.num_rows]
            return pa.concat_tables(parts, promote_options="permissive") if parts else None
        months = lake.months(ARTISTS)
        return lake.read(ARTISTS, months, columns=["artist_name", "genres"]) if months else None

    @staticmethod
    def _month(con: duckdb.DuckDBPyConnection, month: str, plays: pa.Table | None) -> dict[str, pa.Table | None]:
        if plays is None or plays.num_rows == 0:
            return {table: None for table in FROM_PLAYS}
        con.register("p", plays.select(["user_id", "played_at", "ms_played", "track_id", "track_name", "artist_name"]))
        try:
            args = {"year": int(month[:4]), "month": int(month[5:7])}
            out: dict[str, pa.Table | None] = {}
            for table, sql in _MONTHLY_SQL.items():
                needed = {k: v for k, v in args.items() if f"${k}" in sql}
                out[table] = con.execute(sql, needed).to_arrow_table()
            return out
        finally:
            con.unregister("p")

    @staticmethod
    def _genres(con: duckdb.DuckDBPyConnection, tracks: pa.Table | None, artists: pa.Table) -> pa.Table | None:
        if tracks is None or tracks.num_rows == 0:
            return None
        con.register("t", tracks)
        con.register("a", artists.select(["artist_name", "genres"]))
        try:
            return con.execute(_GENRES_SQL).to_arrow_table()
        finally:
            con.unregister("t")
            con.unregister("a")

    @staticmethod
    def _windows(con: duckdb.DuckDBPyConnection, lake: Lake, tracks: Mapping[str, pa.Table | None],
                 end: str) -> dict[str, pa.Table | None]:
        months = [shift_month(end, -k) for k in range(max(WINDOWS))]
        parts = []
        for month in months:
            t = tracks[month] if month in tracks else lake.read(TRACKS_MONTHLY, [month])
            if t is not None and t.num_rows:
                cols = t.select(["user_id", "track_id", "track_name", "artist_name", "play_count", "total_play_time_ms"])
                parts.append(cols.append_column("month_key", pa.array([month] * t.num_rows, pa.string())))
        out: dict[str, pa.Table | None] = {}
        if not parts:
            return {TRACKS_WINDOW: None, ARTISTS_WINDOW: None}
        con.register("t", pa.concat_tables(parts))
        try:
            for table, sql in _WINDOW_SQL.items():
                pieces = [con.execute(sql, {"len": n, "start": shift_month(end, 1 - n), "end": end, "top": TOP_N}).to_arrow_table()
                          for n in WINDOWS]
                out[table] = pa.concat_tables(pieces)
        finally:
            con.unregister("t")
        return out


def rebuild(lake: Lake, months: Iterable[str], *, progress: MonthProgress | None = None) -> tuple[list[str], int]:
    """Re-aggregate past data (the seed's backfill job): roll-ups of ``months`` from the plays
    the lake holds, in one commit. Returns (tables written, manifest version)."""
    wanted = sorted(set(months) & set(lake.months(PLAYS)))
    changes: Changes = {}
    tables = RollupBuilder().add(lake, changes, wanted, progress)
    if not changes:
        return [], lake.manifest().version
    commit = lake.commit(changes)
    return tables, commit.version
