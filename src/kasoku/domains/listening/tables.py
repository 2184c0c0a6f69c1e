"""The listening domain's DuckLake tables: names, DDL, partitioning, and which months they hold.

Plays and episodes are partitioned by ``year(played_at), month(played_at)`` (UTC), so a month's
rows live in their own files and a range query reads only its months' files (B1). Roll-ups
are partitioned by their month columns (windows by end month). Tables are created on first
write, inside that write's transaction.
"""

from __future__ import annotations

import duckdb

from kasoku.lake.ducklake import ALIAS

PLAYS = "plays"
EPISODES = "episodes"
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
# The any-zone, both-rules roll-ups of rollup_local.py (built per UTC month from its plays).
TRACK_MONTHS = "rollup_track_months"
TRACK_DAYS = "rollup_track_days"
QUARTER_HOURS = "rollup_quarter_hours"
# The collector's gaps (collector/gaps.py): time ranges a poll may have missed, until an export fills them.
COLLECTOR_GAPS = "collector_gaps"

_PLAYED_AT = "year(played_at), month(played_at)"
_DAY = "year(day), month(day)"
_MONTH = "year, month"
_LOCAL_COUNTS = "plays BIGINT, total_ms BIGINT, plays_30s BIGINT, total_ms_30s BIGINT"
_LOCAL_TRACK = ("track_id VARCHAR, track_id_30s VARCHAR, track_name VARCHAR, artist_name VARCHAR, album_name VARCHAR, "
                "first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, first_at_30s TIMESTAMPTZ, last_at_30s TIMESTAMPTZ")

# name -> (columns, partition key)
TABLES: dict[str, tuple[str, str | None]] = {
    PLAYS: ("play_id VARCHAR, user_id VARCHAR, played_at TIMESTAMPTZ, ms_played BIGINT, track_id VARCHAR, "
            "track_name VARCHAR, artist_name VARCHAR, album_name VARCHAR, platform VARCHAR, country VARCHAR, "
            "reason_start VARCHAR, reason_end VARCHAR, shuffle BOOLEAN, skipped BOOLEAN, source VARCHAR", _PLAYED_AT),
    EPISODES: ("play_id VARCHAR, user_id VARCHAR, played_at TIMESTAMPTZ, ms_played BIGINT, kind VARCHAR, uri VARCHAR, "
               "title VARCHAR, show_name VARCHAR, platform VARCHAR, source VARCHAR", _PLAYED_AT),
    ARTISTS: ("artist_id VARCHAR, artist_name VARCHAR, genres VARCHAR[]", None),
    TRACKS_MONTHLY: ("user_id VARCHAR, year INTEGER, month INTEGER, track_id VARCHAR, track_name VARCHAR, "
                     "artist_name VARCHAR, play_count BIGINT, total_play_time_ms BIGINT, rank INTEGER", _MONTH),
    ARTISTS_MONTHLY: ("user_id VARCHAR, year INTEGER, month INTEGER, artist_name VARCHAR, play_count BIGINT, "
                      "total_play_time_ms BIGINT, unique_tracks BIGINT, rank INTEGER", _MONTH),
    MONTHS: ("user_id VARCHAR, year INTEGER, month INTEGER, plays BIGINT, total_ms BIGINT, unique_tracks BIGINT", _MONTH),
    DAYS: ("user_id VARCHAR, day DATE, plays BIGINT, total_ms BIGINT, unique_tracks BIGINT", _DAY),
    DAY_TRACKS: ("user_id VARCHAR, day DATE, track_name VARCHAR, artist_name VARCHAR, plays BIGINT, total_ms BIGINT", _DAY),
    HOURS: ("user_id VARCHAR, day DATE, hour INTEGER, plays BIGINT, total_ms BIGINT", _DAY),
    GENRES_MONTHLY: ("user_id VARCHAR, year INTEGER, month INTEGER, genre VARCHAR, artist_name VARCHAR, plays BIGINT, "
                     "total_ms BIGINT", _MONTH),
    TRACKS_WINDOW: ("user_id VARCHAR, window_months INTEGER, start_month VARCHAR, end_month VARCHAR, track_id VARCHAR, "
                    "track_name VARCHAR, artist_name VARCHAR, play_count BIGINT, total_play_time_ms BIGINT, rank INTEGER",
                    "end_month"),
    ARTISTS_WINDOW: ("user_id VARCHAR, window_months INTEGER, start_month VARCHAR, end_month VARCHAR, "
                     "artist_name VARCHAR, play_count BIGINT, total_play_time_ms BIGINT, unique_tracks BIGINT, "
                     "rank INTEGER", "end_month"),
    # A track-month row's month is that of its first play (every play of the row is in the month).
    TRACK_MONTHS: (f"user_id VARCHAR, {_LOCAL_TRACK}, {_LOCAL_COUNTS}", "year(first_at), month(first_at)"),
    TRACK_DAYS: (f"user_id VARCHAR, day DATE, {_LOCAL_TRACK}, {_LOCAL_COUNTS}", _DAY),
    QUARTER_HOURS: (f"user_id VARCHAR, slot TIMESTAMPTZ, {_LOCAL_COUNTS}", "year(slot), month(slot)"),
    # Keyed by (user_id, gap_start, gap_end); written in the poll's or the import's transaction only.
    COLLECTOR_GAPS: ("gap_id VARCHAR, user_id VARCHAR, gap_start TIMESTAMPTZ, gap_end TIMESTAMPTZ, "
                     "detected_at TIMESTAMPTZ, reason VARCHAR, start_track VARCHAR, end_track VARCHAR, "
                     "closed_at TIMESTAMPTZ, closed_by VARCHAR, filled BIGINT", None),
}

# SQL giving the 'YYYY-MM' month of a row, per table (what "the months a table holds" means).
MONTH_OF: dict[str, str] = {
    PLAYS: "strftime(played_at, '%Y-%m')", EPISODES: "strftime(played_at, '%Y-%m')",
    DAYS: "strftime(day, '%Y-%m')", DAY_TRACKS: "strftime(day, '%Y-%m')", HOURS: "strftime(day, '%Y-%m')",
    TRACKS_WINDOW: "end_month", ARTISTS_WINDOW: "end_month",
    TRACK_MONTHS: "strftime(first_at, '%Y-%m')", TRACK_DAYS: "strftime(day, '%Y-%m')",
    QUARTER_HOURS: "strftime(slot, '%Y-%m')",
    **{t: "printf('%04d-%02d', year, month)" for t in (TRACKS_MONTHLY, ARTISTS_MONTHLY, MONTHS, GENRES_MONTHLY)},
}


def ref(table: str, snapshot: int | None = None) -> str:
    """``lake.<table>``, pinned to a snapshot when one is given."""
    return f"{ALIAS}.{table}" + (f" AT (VERSION => {int(snapshot)})" if snapshot is not None else "")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Create missing tables (inside the caller's transaction); True if any was created.

    Tables are created together, so the last one existing means all do: one cheap probe on an
    existing lake (listing tables through ``duckdb_tables()`` costs a catalog read per table).
    """
    try:
        con.execute(f"SELECT 1 FROM {ref(list(TABLES)[-1])} LIMIT 0")
        return False
    except duckdb.CatalogException:
        pass
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]).fetchall()}
    created = False
    for name, (columns, partition) in TABLES.items():
        if name in existing:
            continue
        con.execute(f"CREATE TABLE {ref(name)} ({columns})")
        if partition is not None:
            con.execute(f"ALTER TABLE {ref(name)} SET PARTITIONED BY ({partition})")
        created = True
    return created


def months_of(con: duckdb.DuckDBPyConnection, table: str, snapshot: int | None = None) -> list[str]:
    """Sorted 'YYYY-MM' months in which ``table`` has rows."""
    rows = con.execute(f"SELECT DISTINCT {MONTH_OF[table]} AS m FROM {ref(table, snapshot)} ORDER BY m").fetchall()
    return [r[0] for r in rows]
