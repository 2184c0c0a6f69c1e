"""A year in review from the any-zone roll-ups: the same row, section for section, as pages._year.

Totals, top 5s and discoveries sum track rows (months + days + edge plays; the history before
the year likewise); the top month and day, the streak, days listened and the hour profile sum
quarter-hour slots. The most replays of one track in one local day need plays per (track,
local day): in a zone that is UTC all year they are the per-day track rows; elsewhere that one
section reads the year's plays (a local day is not a union of UTC days).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kasoku.domains.listening import rollup_local as rl
from kasoku.domains.listening.pages import YearParams, year_sections
from kasoku.domains.listening.statistics import ARTIST_ID, minutes
from kasoku.domains.listening.tools import local_time, zone_of
from kasoku.domains.listening.zones import utc_equivalent

if TYPE_CHECKING:
    from kasoku.domains.listening.rollup_zones import Args, ZonePlanner

_TRACK_ORDER = "play_count DESC, ms DESC, track_name, artist"


def _replays(zr: "ZonePlanner", a: "Args", p: YearParams, rule: int, lo: datetime, hi: datetime) -> str:
    from kasoku.domains.listening.rollup_zones import PLAYS, _months_of

    present = zr.months(PLAYS)
    order = "ORDER BY play_count DESC, day, track_name, artist LIMIT 1"
    if zr.index is not None:
        rows = zr.index.replays(lo, hi, rule, zone_of(p), (p.year - 1, p.year + 1))
        if rows is not None:  # the (day, track, artist) groups with the most plays, ties included
            return f"SELECT * FROM {zr.relation(rows)} {order}"
    if utc_equivalent(zone_of(p), p.year - 1, p.year + 1):
        sfx = "_30s" if rule else ""
        rel = zr._rel(rl.TRACK_DAYS, _months_of(present, lo.date(), hi.date()))
        if not rel:
            return "SELECT NULL::VARCHAR AS day, NULL::VARCHAR AS track_id, NULL::VARCHAR AS track_name, " \
                   "NULL::VARCHAR AS artist, 0::BIGINT AS play_count WHERE false"
        return f"""SELECT strftime(day, '%Y-%m-%d') AS day, min(track_id{sfx}) AS track_id, track_name, artist_name AS artist,
                          CAST(sum(plays{sfx}) AS BIGINT) AS play_count
                   FROM {rel} WHERE user_id = $1 AND plays{sfx} > 0 AND day >= {a(lo.date())} AND day < {a(hi.date())}
                   GROUP BY day, track_name, artist_name {order}"""
    rel = zr._rel(PLAYS, _months_of(present, lo.date(), (hi - timedelta(microseconds=1)).date() + timedelta(days=1)))
    if not rel:
        return "SELECT NULL::VARCHAR AS day, NULL::VARCHAR AS track_id, NULL::VARCHAR AS track_name, " \
               "NULL::VARCHAR AS artist, 0::BIGINT AS play_count WHERE false"
    rule_sql = f" AND ms_played >= {a(rule)}" if rule else ""
    return f"""SELECT strftime(CAST({local_time(p)} AS DATE), '%Y-%m-%d') AS day, min(track_id) AS track_id, track_name,
                      artist_name AS artist, count(*) AS play_count
               FROM {rel} WHERE user_id = $1 AND played_at >= {a(lo)} AND played_at < {a(hi)}{rule_sql}
               GROUP BY CAST({local_time(p)} AS DATE), track_name, artist_name {order}"""


def year_sql(zr: "ZonePlanner", a: "Args", p: YearParams, rule: int, lo: datetime | None, hi: datetime | None) -> str:
    assert lo is not None and hi is not None
    local = local_time(p, "slot")
    tr, hist = zr.track_rows(a, lo, hi, rule, times=True), zr.track_rows(a, None, lo, rule)
    slots = zr.slot_rows(a, lo, hi, rule)
    replays = _replays(zr, a, p, rule, lo, hi)
    totals = f"""SELECT CAST(to_json({{'plays': CAST(coalesce(sum(plays), 0) AS BIGINT), 'minutes': {minutes('sum(ms)')},
                                 'tracks': count(DISTINCT (track_name, artist_name)), 'artists': count(DISTINCT artist_name),
                                 'albums': count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL),
                                 'days_listened': (SELECT count(DISTINCT day) FROM sl)}}) AS VARCHAR) FROM tr"""
    return f"""
        WITH tr AS MATERIALIZED ({tr}), hist AS MATERIALIZED ({hist}),
             sl AS MATERIALIZED (SELECT CAST({local} AS DATE) AS day, hour({local}) AS hour, plays, ms FROM ({slots})),
             nt AS MATERIALIZED (SELECT min(track_id) AS track_id, track_name, artist_name AS artist, min(first_at) AS first_play,
                           CAST(sum(plays) AS BIGINT) AS play_count
                    FROM tr ANTI JOIN (SELECT DISTINCT track_name, artist_name FROM hist) h USING (track_name, artist_name)
                    GROUP BY track_name, artist_name),
             na AS MATERIALIZED (SELECT min({ARTIST_ID}) AS artist_id, artist_name AS artist, min(first_at) AS first_play,
                           CAST(sum(plays) AS BIGINT) AS play_count
                    FROM tr ANTI JOIN (SELECT DISTINCT artist_name FROM hist) h USING (artist_name) GROUP BY artist_name)
        SELECT {year_sections(a(p.year), totals, "tr", "sl", replays)}"""

