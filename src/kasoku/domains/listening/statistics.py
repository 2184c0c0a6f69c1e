"""The statistics tools over raw plays: albums, podcasts, overview, streaks, discoveries.

Same contract as tools.py: ``sql(relation, params) -> (sql, args)`` where the source prepends
the user id as the first argument. Ranges are local days in the params' zone; ``min_ms`` is
the play rule. A tool whose answer needs plays outside its range (the previous range of an
overview, the history before a discovery) says which span it reads (``Tool.span``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from kasoku.domains.listening.tools import RangeParams, Tool, TopParams, local_time, min_ms_of, range_bounds

ARTIST_ID = "'artist:' || substr(md5(artist_name), 1, 16)"


class EpisodesParams(TopParams):
    kind: Literal["shows", "episodes"] = Field("shows", description="shows (podcasts) or episodes")


class DiscoveriesParams(TopParams):
    kind: Literal["tracks", "artists"] = Field("tracks", description="tracks or artists first played in the range")


class StreaksParams(TopParams):
    pass


def user_plays(src: str, p: RangeParams, columns: str, *, lo: bool = True, hi: bool = True) -> tuple[str, list[Any]]:
    """``SELECT columns FROM src`` of the user (first argument, added by the source), the play
    rule and the range bounds asked for."""
    clauses, args = ["user_id = ?"], []
    start, end = range_bounds(p)
    if lo and start is not None:
        clauses.append("played_at >= ?")
        args.append(start)
    if hi and end is not None:
        clauses.append("played_at < ?")
        args.append(end)
    if min_ms_of(p) > 0:
        clauses.append("ms_played >= ?")
        args.append(min_ms_of(p))
    return f"SELECT {columns} FROM {src} WHERE {' AND '.join(clauses)}", args


def minutes(expr: str = "sum(ms_played)") -> str:
    return f"round(coalesce({expr}, 0) / 60000.0, 2)"


def _top_albums(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, TopParams)
    rows, args = user_plays(src, p, "album_name, artist_name, track_name, ms_played")
    return (f"""
        SELECT album_name AS album, artist_name AS artist, count(*) AS play_count, {minutes()} AS total_minutes,
               count(DISTINCT track_name) AS unique_tracks
        FROM ({rows}) WHERE album_name IS NOT NULL
        GROUP BY album_name, artist_name
        ORDER BY play_count DESC, sum(ms_played) DESC, album_name, artist_name
        LIMIT {int(p.limit)}""", args)


def _episodes(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    """Podcast episodes (the ``episodes`` table, kind 'episode'): per show or per episode."""
    assert isinstance(p, EpisodesParams)
    rows, args = user_plays(src, p, "kind, uri, title, show_name, ms_played")
    if p.kind == "shows":
        return (f"""
            SELECT show_name AS show, count(*) AS play_count, {minutes()} AS total_minutes,
                   count(DISTINCT coalesce(uri, title)) AS episodes
            FROM ({rows}) WHERE kind = 'episode'
            GROUP BY show_name ORDER BY play_count DESC, sum(ms_played) DESC, show_name LIMIT {int(p.limit)}""", args)
    return (f"""
        SELECT title, show_name AS show, count(*) AS play_count, {minutes()} AS total_minutes
        FROM ({rows}) WHERE kind = 'episode'
        GROUP BY title, show_name ORDER BY play_count DESC, sum(ms_played) DESC, title, show_name LIMIT {int(p.limit)}""",
            args)


def previous_range(p: RangeParams) -> RangeParams | None:
    """The equal-length range of local days ending the day before ``start`` (closed ranges only)."""
    if p.start is None or p.end is None:
        return None
    days = (p.end - p.start).days + 1
    return p.model_copy(update={"start": p.start - timedelta(days=days), "end": p.start - timedelta(days=1)})


def overview_span(p: RangeParams) -> RangeParams:
    prev = previous_range(p)
    return p if prev is None else p.model_copy(update={"start": prev.start})


OVERVIEW_COLUMNS = "played_at, ms_played, track_name, artist_name, album_name"


def overview_select(rel: str, p: RangeParams, period: str, bounds: RangeParams) -> tuple[str, list[Any]]:
    """One overview row over ``rel`` (plays already of the user and the rule) within ``bounds``."""
    lo, hi = range_bounds(bounds)
    clauses, args = ["true"], [period, bounds.start, bounds.end]
    if lo is not None:
        clauses.append("played_at >= ?")
        args.append(lo)
    if hi is not None:
        clauses.append("played_at < ?")
        args.append(hi)
    return (f"""
        SELECT ? AS period, CAST(? AS DATE) AS start, CAST(? AS DATE) AS "end", count(*) AS plays,
               {minutes()} AS minutes, count(DISTINCT (track_name, artist_name)) AS tracks,
               count(DISTINCT artist_name) AS artists,
               count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL) AS albums,
               count(DISTINCT CAST({local_time(p)} AS DATE)) AS days_listened
        FROM {rel} WHERE {' AND '.join(clauses)}""", args)


def _overview(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    span = overview_span(p)
    rows, args = user_plays(src, span, OVERVIEW_COLUMNS)
    current, cargs = overview_select("a", p, "current", p)
    sql, out = f"WITH a AS MATERIALIZED ({rows}) {current}", [*args, *cargs]
    prev = previous_range(p)
    if prev is not None:
        previous, pargs = overview_select("a", p, "previous", prev)
        sql, out = f"{sql} UNION ALL {previous}", [*out, *pargs]
    return f"SELECT * FROM ({sql}) ORDER BY period", out


def _streaks(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    """Runs of consecutive local days with at least one counted play, longest first."""
    assert isinstance(p, StreaksParams)
    rows, args = user_plays(src, p, "played_at, ms_played")
    return (f"""
        WITH d AS (SELECT CAST({local_time(p)} AS DATE) AS day, count(*) AS plays FROM ({rows}) GROUP BY day),
             g AS (SELECT day, plays, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS grp FROM d)
        SELECT min(day) AS start, max(day) AS "end", count(*) AS days, CAST(sum(plays) AS BIGINT) AS plays
        FROM g GROUP BY grp ORDER BY days DESC, start DESC LIMIT {int(p.limit)}""", args)


def history_span(p: RangeParams) -> RangeParams:
    """Everything up to the range's end: a first play 'ever' needs the history before it."""
    return p.model_copy(update={"start": None})


def _discoveries(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    """Items whose first counted play ever falls in the range, with their plays in the range."""
    assert isinstance(p, DiscoveriesParams)
    rows, args = user_plays(src, p, "track_id, track_name, artist_name, played_at", lo=False)
    lo, _ = range_bounds(p)
    if p.kind == "tracks":
        key, cols, order = "track_name, artist_name", "min(track_id) AS track_id, track_name, artist_name AS artist", \
            "track_name, artist"
    else:
        key, cols, order = "artist_name", f"min({ARTIST_ID}) AS artist_id, artist_name AS artist", "artist"
    # The range's start comes after the rows' arguments (the user id must be the first).
    return (f"""
        WITH r AS ({rows}), b AS (SELECT coalesce(CAST(? AS TIMESTAMPTZ), TIMESTAMPTZ '0001-01-01 00:00:00+00') AS lo)
        SELECT * FROM (
            SELECT {cols}, min(played_at) AS first_play, count(*) FILTER (WHERE played_at >= (SELECT lo FROM b)) AS play_count
            FROM r GROUP BY {key})
        WHERE first_play >= (SELECT lo FROM b)
        ORDER BY play_count DESC, first_play, {order} LIMIT {int(p.limit)}""", [*args, lo])


TOOLS = [
    Tool("top_albums", TopParams, _top_albums, "Most played albums: play_count, total minutes, unique tracks"),
    Tool("episodes", EpisodesParams, _episodes, "Podcasts: top shows or top episodes, with minutes", table="episodes"),
    Tool("overview", RangeParams, _overview,
         "Plays, minutes, distinct tracks/artists/albums and days listened, beside the previous equal-length range",
         span=overview_span),
    Tool("streaks", StreaksParams, _streaks, "Runs of consecutive local days with plays, longest first"),
    Tool("discoveries", DiscoveriesParams, _discoveries,
         "Tracks or artists first played (ever) in the range, with their plays in it", span=history_span),
]

