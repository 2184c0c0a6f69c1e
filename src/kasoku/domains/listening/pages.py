"""One-row pages over raw plays: a year in review, an artist, a track.

Each answer is one row whose sections are JSON text (flagged ``kasoku.json``, so JSON and
MessagePack embed them as values). Same SQL builder contract as every tool:
``sql(relation, params) -> (sql, args)``, the user id prepended by the source.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field, model_validator

from kasoku.domains.listening.statistics import ARTIST_ID, history_span, minutes, user_plays
from kasoku.domains.listening.tools import RangeParams, Tool, TopParams, local_time, range_bounds
from kasoku.errors import InvalidParameter

TOP = 5
STREAK_FIELDS = "'start': start, 'end': \"end\", 'days': days"
_TRACK_ORDER = "play_count DESC, ms DESC, track_name, artist"


class YearParams(RangeParams):
    year: int = Field(..., ge=1970, le=2200, description="the local calendar year (in tz)")

    @model_validator(mode="after")
    def _year_range(self) -> "YearParams":
        first, last = date(self.year, 1, 1), date(self.year, 12, 31)
        if (self.start is not None and self.start != first) or (self.end is not None and self.end != last):
            raise InvalidParameter("years/{year} takes no start or end: the range is the year",
                                   details={"year": self.year})
        return self.model_copy(update={"start": first, "end": last})


class ArtistParams(TopParams):
    artist_id: str = Field(..., min_length=1, max_length=64, description="artist:<16 hex> (see docs)")


class TrackParams(RangeParams):
    track_id: str = Field(..., min_length=1, max_length=64, description="Spotify track id or local:<hash>")


def _json_list(select: str, fields: str, order: str) -> str:
    """JSON text of a list of structs built from the rows of ``select``."""
    return f"(SELECT CAST(to_json(coalesce(list({{{fields}}} ORDER BY {order}), [])) AS VARCHAR) FROM ({select}))"


def _json_row(select: str, fields: str) -> str:
    """JSON text of the first row of ``select`` as an object (null when it has no rows)."""
    return f"(SELECT CAST(to_json({{{fields}}}) AS VARCHAR) FROM ({select}) LIMIT 1)"


def year_sections(year_arg: str, totals: str, tracks: str, slots: str, replay: str) -> str:
    """The SELECT list of a year in review, shared by the raw answer (below) and the roll-up one
    (year_rollup.py), so both build every section with the same SQL.

    ``totals``: the JSON text of the totals. ``tracks``: a relation of (track_id, track_name,
    artist_name, album_name, plays, ms) rows of the year; ``slots``: one of (day, hour, plays, ms)
    rows in local time; both may hold several rows per item (they are summed). ``nt``/``na``
    (the year's new tracks and artists: track_id/artist_id, artist, first_play, play_count)
    must be defined by the caller's WITH. ``replay``: (day, track_id, track_name, artist,
    play_count) rows, best first.
    """
    top_tracks = f"""SELECT min(track_id) AS track_id, track_name, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                            sum(ms) AS ms FROM {tracks} GROUP BY track_name, artist_name ORDER BY {_TRACK_ORDER} LIMIT {TOP}"""
    top_artists = f"""SELECT min({ARTIST_ID}) AS artist_id, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count,
                             sum(ms) AS ms FROM {tracks} GROUP BY artist_name ORDER BY play_count DESC, ms DESC, artist LIMIT {TOP}"""
    top_albums = f"""SELECT album_name AS album, artist_name AS artist, CAST(sum(plays) AS BIGINT) AS play_count, sum(ms) AS ms
                     FROM {tracks} WHERE album_name IS NOT NULL GROUP BY album_name, artist_name
                     ORDER BY play_count DESC, ms DESC, album, artist LIMIT {TOP}"""
    by_month = f"""SELECT strftime(day, '%Y-%m') AS month, CAST(sum(plays) AS BIGINT) AS plays, sum(ms) AS ms FROM {slots}
                   GROUP BY month ORDER BY ms DESC, plays DESC, month LIMIT 1"""
    by_day = f"""SELECT strftime(day, '%Y-%m-%d') AS day, CAST(sum(plays) AS BIGINT) AS plays, sum(ms) AS ms FROM {slots}
                 GROUP BY day ORDER BY ms DESC, plays DESC, day LIMIT 1"""
    streak = f"""SELECT strftime(min(day), '%Y-%m-%d') AS start, strftime(max(day), '%Y-%m-%d') AS "end", count(*) AS days
                 FROM (SELECT day, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS grp
                       FROM (SELECT DISTINCT day FROM {slots}))
                 GROUP BY grp ORDER BY days DESC, start LIMIT 1"""
    hours = f"""SELECT h.hour, CAST(coalesce(sum(s.plays), 0) AS BIGINT) AS play_count, {minutes('sum(s.ms)')} AS total_minutes
                FROM range(24) h(hour) LEFT JOIN {slots} s ON s.hour = h.hour GROUP BY h.hour"""
    minutes_of = "'total_minutes': round(ms / 60000.0, 2)"
    return f"""CAST({year_arg} AS INTEGER) AS year, ({totals}) AS totals,
          {_json_list(top_tracks, "'track_id': track_id, 'track_name': track_name, 'artist': artist, 'play_count': play_count, " + minutes_of, _TRACK_ORDER)} AS top_tracks,
          {_json_list(top_artists, "'artist_id': artist_id, 'artist': artist, 'play_count': play_count, " + minutes_of, "play_count DESC, ms DESC, artist")} AS top_artists,
          {_json_list(top_albums, "'album': album, 'artist': artist, 'play_count': play_count, " + minutes_of, "play_count DESC, ms DESC, album, artist")} AS top_albums,
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
          {_json_row(replay, "'day': day, 'track_id': track_id, 'track_name': track_name, 'artist': artist, 'play_count': play_count")} AS most_replayed,
          {_json_list(hours, "'hour': hour, 'play_count': play_count, 'total_minutes': total_minutes", "hour")} AS hours"""


def _year(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, YearParams)
    rows, args = user_plays(src, p, "played_at, ms_played, track_id, track_name, artist_name, album_name", lo=False)
    lo, _ = range_bounds(p)
    local = local_time(p)
    new_tracks = """SELECT min(track_id) AS track_id, track_name, artist_name AS artist, min(played_at) AS first_play,
                           count(*) FILTER (WHERE in_year) AS play_count
                    FROM a GROUP BY track_name, artist_name HAVING min(played_at) >= (SELECT lo FROM b)"""
    new_artists = f"""SELECT min({ARTIST_ID}) AS artist_id, artist_name AS artist, min(played_at) AS first_play,
                             count(*) FILTER (WHERE in_year) AS play_count
                      FROM a GROUP BY artist_name HAVING min(played_at) >= (SELECT lo FROM b)"""
    replay = """SELECT strftime(day, '%Y-%m-%d') AS day, min(track_id) AS track_id, track_name, artist_name AS artist,
                       count(*) AS play_count FROM y GROUP BY day, track_name, artist_name
                ORDER BY play_count DESC, day, track_name, artist LIMIT 1"""
    totals = f"""SELECT CAST(to_json({{'plays': count(*), 'minutes': {minutes()},
                                 'tracks': count(DISTINCT (track_name, artist_name)), 'artists': count(DISTINCT artist_name),
                                 'albums': count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL),
                                 'days_listened': count(DISTINCT day)}}) AS VARCHAR) FROM y"""
    sql = f"""
        WITH r AS ({rows}), b AS (SELECT CAST(? AS TIMESTAMPTZ) AS lo),
             a AS MATERIALIZED (SELECT *, played_at >= (SELECT lo FROM b) AS in_year FROM r),
             y AS MATERIALIZED (SELECT *, CAST({local} AS DATE) AS day, hour({local}) AS hour, 1 AS plays, ms_played AS ms
                                FROM a WHERE in_year),
             nt AS MATERIALIZED ({new_tracks}), na AS MATERIALIZED ({new_artists})
        SELECT {year_sections("?", totals, "y", "y", replay)}"""
    # Arguments in textual order: the rows' (user first, prepended by the source), b's lo, the year.
    return sql, [*args, lo, p.year]


def _artist(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, ArtistParams)
    rows, args = user_plays(src, p, "played_at, ms_played, track_id, track_name, artist_name")
    months = f"""SELECT strftime({local_time(p)}, '%Y-%m') AS month, count(*) AS plays, sum(ms_played) AS ms
                 FROM x GROUP BY month"""
    tracks = f"""SELECT min(track_id) AS track_id, track_name, count(*) AS play_count, sum(ms_played) AS ms
                 FROM x GROUP BY track_name ORDER BY play_count DESC, ms DESC, track_name LIMIT {int(p.limit)}"""
    return (f"""
        WITH a AS MATERIALIZED ({rows}), x AS MATERIALIZED (SELECT * FROM a WHERE {ARTIST_ID} = ?),
             t AS (SELECT count(*) AS plays, sum(ms_played) AS ms FROM a)
        SELECT ? AS artist_id, (SELECT min(artist_name) FROM x) AS artist,
               (SELECT min(played_at) FROM x) AS first_play, (SELECT max(played_at) FROM x) AS last_play,
               (SELECT count(*) FROM x) AS plays, (SELECT {minutes()} FROM x) AS minutes,
               round((SELECT count(*) FROM x) / nullif(t.plays, 0), 4) AS share_plays,
               round((SELECT sum(ms_played) FROM x) / nullif(t.ms, 0), 4) AS share_minutes,
               {_json_list(months, "'month': month, 'plays': plays, 'minutes': round(ms / 60000.0, 2)", "month")} AS months,
               {_json_list(tracks, "'track_id': track_id, 'track_name': track_name, 'play_count': play_count, 'total_minutes': round(ms / 60000.0, 2)", "play_count DESC, ms DESC, track_name")} AS top_tracks
        FROM t""", [*args, p.artist_id, p.artist_id])


def _track(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, TrackParams)
    rows, args = user_plays(src, p, "played_at, ms_played, track_id, track_name, artist_name, album_name")
    months = f"""SELECT strftime({local_time(p)}, '%Y-%m') AS month, count(*) AS plays, sum(ms_played) AS ms
                 FROM x GROUP BY month"""
    return (f"""
        WITH a AS MATERIALIZED ({rows}), x AS MATERIALIZED (SELECT * FROM a WHERE track_id = ?),
             t AS (SELECT count(*) AS plays, sum(ms_played) AS ms FROM a)
        SELECT ? AS track_id, (SELECT min(track_name) FROM x) AS track_name, (SELECT min(artist_name) FROM x) AS artist,
               (SELECT min({ARTIST_ID}) FROM x) AS artist_id, (SELECT min(album_name) FROM x) AS album,
               (SELECT min(played_at) FROM x) AS first_play, (SELECT max(played_at) FROM x) AS last_play,
               (SELECT count(*) FROM x) AS plays, (SELECT {minutes()} FROM x) AS minutes,
               round((SELECT count(*) FROM x) / nullif(t.plays, 0), 4) AS share_plays,
               round((SELECT sum(ms_played) FROM x) / nullif(t.ms, 0), 4) AS share_minutes,
               {_json_list(months, "'month': month, 'plays': plays, 'minutes': round(ms / 60000.0, 2)", "month")} AS months
        FROM t""", [*args, p.track_id, p.track_id])


TOOLS = [
    Tool("year_in_review", YearParams, _year, "A year in review: totals, top 5s, top month and day, longest streak, "
         "discoveries, most replays of a track in a day, hour-of-day profile", span=history_span,
         json_columns=("totals", "top_tracks", "top_artists", "top_albums", "top_month", "top_day", "longest_streak",
                       "discoveries", "most_replayed", "hours")),
    Tool("artist_page", ArtistParams, _artist, "One artist: first/last play, plays and minutes by month, top tracks, "
         "share of all listening", json_columns=("months", "top_tracks"), not_found_when_zero="plays"),
    Tool("track_page", TrackParams, _track, "One track: first/last play, plays and minutes by month, share of all "
         "listening", json_columns=("months",), not_found_when_zero="plays"),
]
