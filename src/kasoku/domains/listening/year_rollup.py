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
from kasoku.domains.listening.pages import STREAK_FIELDS, TOP, YearParams, _json_list, _json_row
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
    tr, hist = zr.track_rows(a, lo, hi, rule), zr.track_rows(a, None, lo, rule)
    slots = zr.slot_rows(a, lo, hi, rule)
    replays = _replays(zr, a, p, rule, lo, hi)
    top_tracks = f"""SELECT min(track_id) AS track_id, track_name, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                            sum(ms) AS ms FROM tr GROUP BY track_name, artist_name ORDER BY {_TRACK_ORDER} LIMIT {TOP}"""
    top_artists = f"""SELECT min({ARTIST_ID}) AS artist_id, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                             sum(ms) AS ms FROM tr GROUP BY artist_name ORDER BY play_count DESC, ms DESC, artist LIMIT {TOP}"""
    top_albums = f"""SELECT album_name AS album, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count, sum(ms) AS ms
                     FROM tr WHERE album_name IS NOT NULL GROUP BY album_name, artist_name
                     ORDER BY play_count DESC, ms DESC, album, artist LIMIT {TOP}"""
    by_month = """SELECT strftime(day, '%Y-%m') AS month, CAST(sum(plays) AS BIGINT) AS plays, sum(ms) AS ms FROM sl
                  GROUP BY month ORDER BY ms DESC, plays DESC, month LIMIT 1"""
    by_day = """SELECT strftime(day, '%Y-%m-%d') AS day, CAST(sum(plays) AS BIGINT) AS plays, sum(ms) AS ms FROM sl
                GROUP BY day ORDER BY ms DESC, plays DESC, day LIMIT 1"""
    streak = """SELECT strftime(min(day), '%Y-%m-%d') AS start, strftime(max(day), '%Y-%m-%d') AS "end", count(*) AS days
                FROM (SELECT day, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS grp FROM (SELECT DISTINCT day FROM sl))
                GROUP BY grp ORDER BY days DESC, start LIMIT 1"""
    hours = f"""SELECT h.hour, CAST(coalesce(sum(sl.plays), 0) AS BIGINT) AS play_count, {minutes('sum(sl.ms)')} AS total_minutes
                FROM range(24) h(hour) LEFT JOIN sl ON sl.hour = h.hour GROUP BY h.hour"""
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
        SELECT CAST({a(p.year)} AS INTEGER) AS year,
          (SELECT CAST(to_json({{'plays': CAST(coalesce(sum(plays), 0) AS BIGINT), 'minutes': {minutes('sum(ms)')},
                                 'tracks': count(DISTINCT (track_name, artist_name)), 'artists': count(DISTINCT artist_name),
                                 'albums': count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL),
                                 'days_listened': (SELECT count(DISTINCT day) FROM sl)}}) AS VARCHAR) FROM tr) AS totals,
          {_json_list(top_tracks, "'track_id': track_id, 'track_name': track_name, 'artist': artist, 'play_count': play_count, 'total_minutes': round(ms / 60000.0, 2)", _TRACK_ORDER)} AS top_tracks,
          {_json_list(top_artists, "'artist_id': artist_id, 'artist': artist, 'play_count': play_count, 'total_minutes': round(ms / 60000.0, 2)", "play_count DESC, ms DESC, artist")} AS top_artists,
          {_json_list(top_albums, "'album': album, 'artist': artist, 'play_count': play_count, 'total_minutes': round(ms / 60000.0, 2)", "play_count DESC, ms DESC, album, artist")} AS top_albums,
          {_json_row(by_month, "'month': month, 'plays': plays, 'minutes': round(ms / 60000.0, 2)")} AS top_month,
          {_json_row(by_day, "'day': day, 'plays': plays, 'minutes': round(ms / 60000.0, 2)")} AS top_day,
          {_json_row(streak, STREAK_FIELDS)} AS longest_streak,
          (SELECT CAST(to_json({{'tracks': (SELECT count(*) FROM nt), 'artists': (SELECT count(*) FROM na),
              'top_tracks': (SELECT coalesce(list({{'track_id': track_id, 'track_name': track_name, 'artist': artist,
                     'first_play': first_play, 'play_count': play_count}} ORDER BY play_count DESC, first_play, track_name, artist), [])
                     FROM (SELECT * FROM nt ORDER BY play_count DESC, first_play, track_name, artist LIMIT {TOP})),
              'top_artists': (SELECT coalesce(list({{'artist_id': artist_id, 'artist': artist, 'first_play': first_play,
                     'play_count': play_count}} ORDER BY play_count DESC, first_play, artist), [])
                     FROM (SELECT * FROM na ORDER BY play_count DESC, first_play, artist LIMIT {TOP}))}}) AS VARCHAR)) AS discoveries,
          {_json_row(replays, "'day': day, 'track_id': track_id, 'track_name': track_name, 'artist': artist, 'play_count': play_count")} AS most_replayed,
          {_json_list(hours, "'hour': hour, 'play_count': play_count, 'total_minutes': total_minutes", "hour")} AS hours"""

