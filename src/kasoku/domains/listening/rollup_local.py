"""Roll-ups for answers in any time zone and under both play rules (built at ingest, per UTC month).

Three tables, each partitioned by UTC month like ``plays``, holding every user of the month,
each row with counts under both play rules (every stream, and streams of 30 s or more):

- ``rollup_track_months``  per user, (track_name, artist_name, album_name) in the UTC month
- ``rollup_track_days``    the same per UTC day (``day``)
- ``rollup_quarter_hours`` per user and UTC quarter-hour (``slot``): at most 96 rows a day

Columns: counts ``plays, total_ms`` and ``plays_30s, total_ms_30s``; the track tables also
``track_id`` (min), ``first_at``, ``last_at`` and their ``_30s`` twins (over the ≥ 30 s plays).

Why these make every zone exact (docs/rollups.md): a local range is an interval of instants
``[lo, hi)``; it is the disjoint union of the whole UTC months inside it, the whole UTC days
inside it but outside those months, and at most two partial days at its edges. Track-grained
sums over the range are sums of month rows + day rows + the edge plays counted raw. Local
hours and days are unions of UTC quarter-hours in every zone whose offsets are multiples of
15 minutes (all since 1980), so counts per local hour, weekday or day are sums of slots.

The build is one SQL statement per table over ``p``, the plays of any set of UTC months (the
columns of PLAYS_SCHEMA): rollup_build.py runs each once per refresh, for every touched month
together (a DuckLake statement costs catalog round trips, so one per month would dominate).
"""

from __future__ import annotations

TRACK_MONTHS = "rollup_track_months"
TRACK_DAYS = "rollup_track_days"
QUARTER_HOURS = "rollup_quarter_hours"
LOCAL_TABLES = (TRACK_MONTHS, TRACK_DAYS, QUARTER_HOURS)
# The play rules the roll-ups hold counts for: min_ms 0 (every stream) and Spotify's 30 s.
RULES = (0, 30_000)

_COUNTS = """count(*) AS plays, CAST(sum(ms_played) AS BIGINT) AS total_ms,
       count(*) FILTER (WHERE ms_played >= 30000) AS plays_30s,
       CAST(coalesce(sum(ms_played) FILTER (WHERE ms_played >= 30000), 0) AS BIGINT) AS total_ms_30s"""

_TRACK_KEYS = """min(track_id) AS track_id, min(track_id) FILTER (WHERE ms_played >= 30000) AS track_id_30s,
       track_name, artist_name, album_name,
       min(played_at) AS first_at, max(played_at) AS last_at,
       min(played_at) FILTER (WHERE ms_played >= 30000) AS first_at_30s,
       max(played_at) FILTER (WHERE ms_played >= 30000) AS last_at_30s"""

# Rows are written in (user, day/slot) order, so a file's min/max prune users and days; the
# order of the tracks within a day does not matter to any answer (every reader groups them),
# and sorting a month's track rows by their names cost as much as grouping them.
LOCAL_SQL: dict[str, str] = {
    TRACK_MONTHS: f"""
        SELECT user_id, {_TRACK_KEYS}, {_COUNTS}
        FROM p GROUP BY user_id, date_trunc('month', timezone('UTC', played_at)), track_name, artist_name, album_name
        ORDER BY user_id""",
    TRACK_DAYS: f"""
        SELECT user_id, CAST(timezone('UTC', played_at) AS DATE) AS day, {_TRACK_KEYS}, {_COUNTS}
        FROM p GROUP BY user_id, day, track_name, artist_name, album_name
        ORDER BY user_id, day""",
    QUARTER_HOURS: f"""
        SELECT user_id, time_bucket(INTERVAL 15 MINUTE, played_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS slot,
               {_COUNTS}
        FROM p GROUP BY user_id, slot ORDER BY user_id, slot""",
}

