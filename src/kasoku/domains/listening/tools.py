"""The listening tools: named queries with validated parameters, and their SQL over raw plays.

Every tool reads ``plays`` through ``read_parquet([files])`` where the file list holds only
the month partitions its date range touches (B1), and every SELECT names the columns it uses
(B2). Ranges are inclusive calendar dates in UTC over ``played_at`` (the end of the play).
Ties are ordered deterministically so that roll-ups and raw scans agree row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kasoku.errors import InvalidParameter


# Days a range may name: wide enough for any listening history, narrow enough that a range's
# month tags stay few and ``end + 1 day`` never leaves the calendar (9999-12-31 did: a 500).
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2199, 12, 31)


class RangeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                               description="first day (ISO date, UTC), inclusive; omitted = from the beginning")
    end: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                             description="last day (ISO date, UTC), inclusive; omitted = up to now")

    @model_validator(mode="after")
    def _ordered(self) -> "RangeParams":
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidParameter(f"date range is backwards: start {self.start} is after end {self.end}",
                                   details={"start": str(self.start), "end": str(self.end)})
        return self


class TopParams(RangeParams):
    limit: int = Field(10, ge=1, le=100, description="rows to return (1-100)")


class StatsParams(RangeParams):
    granularity: Literal["day", "week", "month"] = Field("day", description="day (%Y-%m-%d), week (ISO %G-W%V) or month (%Y-%m)")


class SearchParams(RangeParams):
    q: str = Field(..., min_length=1, max_length=200, description="case-insensitive substring of track or artist name")
    limit: int = Field(10, ge=1, le=100, description="rows to return (1-100)")


class PlaysParams(RangeParams):
    limit: int = Field(100, ge=1, le=1000, description="rows per page (1-1000)")
    offset: int = Field(0, ge=0, le=10_000_000, description="rows to skip")


@dataclass(frozen=True)
class Tool:
    name: str
    params: type[RangeParams]
    sql: Callable[[str, RangeParams], tuple[str, list[Any]]]
    description: str
    # Reads the ``artist_genres`` relation (artist_name, genre) besides plays (see source.py).
    needs_artists: bool = False


def range_bounds(params: RangeParams) -> tuple[datetime | None, datetime | None]:
    """[lo, hi) instants in UTC for the inclusive date range."""
    lo = datetime.combine(params.start, time.min, tzinfo=timezone.utc) if params.start else None
    hi = datetime.combine(params.end + timedelta(days=1), time.min, tzinfo=timezone.utc) if params.end else None
    return lo, hi


def _where(params: RangeParams, user_id_param: bool = True) -> tuple[str, list[Any]]:
    clauses, args = ["user_id = ?"], []
    lo, hi = range_bounds(params)
    if lo is not None:
        clauses.append("played_at >= ?")
        args.append(lo)
    if hi is not None:
        clauses.append("played_at < ?")
        args.append(hi)
    return " AND ".join(clauses), args


def _top_tracks(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, TopParams)
    where, args = _where(p)
    return (f"""
        SELECT track_name, artist_name AS artist, count(*) AS play_count,
               round(sum(ms_played) / 60000.0, 2) AS total_minutes
        FROM (SELECT track_name, artist_name, ms_played FROM {src} WHERE {where})
        GROUP BY track_name, artist_name
        ORDER BY play_count DESC, sum(ms_played) DESC, track_name, artist_name
        LIMIT {int(p.limit)}""", args)


def _top_artists(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, TopParams)
    where, args = _where(p)
    return (f"""
        SELECT artist_name AS artist, count(*) AS play_count,
               round(sum(ms_played) / 60000.0, 2) AS total_minutes,
               count(DISTINCT track_name) AS unique_tracks
        FROM (SELECT artist_name, track_name, ms_played FROM {src} WHERE {where})
        GROUP BY artist_name
        ORDER BY play_count DESC, sum(ms_played) DESC, artist_name
        LIMIT {int(p.limit)}""", args)


GENRES_RELATION = "artist_genres"


def _top_genres(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    """A play counts once in each genre of its artist (artists carry several genres)."""
    assert isinstance(p, TopParams)
    where, args = _where(p)
    return (f"""
        SELECT g.genre, count(*) AS play_count, round(sum(ms_played) / 60000.0, 2) AS total_minutes,
               count(DISTINCT artist_name) AS artists
        FROM (SELECT artist_name, ms_played FROM {src} WHERE {where}) JOIN {GENRES_RELATION} g USING (artist_name)
        GROUP BY g.genre
        ORDER BY play_count DESC, sum(ms_played) DESC, g.genre
        LIMIT {int(p.limit)}""", args)


PERIOD_FORMATS = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}


def _stats(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, StatsParams)
    where, args = _where(p)
    fmt = PERIOD_FORMATS[p.granularity]
    return (f"""
        SELECT strftime(played_at, '{fmt}') AS period, CAST(sum(ms_played) AS BIGINT) AS total_ms,
               count(*) AS track_count, count(DISTINCT (track_name, artist_name)) AS unique_tracks
        FROM (SELECT played_at, ms_played, track_name, artist_name FROM {src} WHERE {where})
        GROUP BY period ORDER BY period""", args)


def _hours(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    where, args = _where(p)
    return (f"""
        SELECT CAST(isodow(played_at) AS INTEGER) AS weekday, CAST(hour(played_at) AS INTEGER) AS hour,
               count(*) AS play_count, round(sum(ms_played) / 60000.0, 2) AS total_minutes
        FROM (SELECT played_at, ms_played FROM {src} WHERE {where})
        GROUP BY weekday, hour ORDER BY weekday, hour""", args)


def _search(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, SearchParams)
    where, args = _where(p)
    needle = p.q.lower()  # the same lower-casing as SQL lower() on the column (casefold would turn ß into ss)
    return (f"""
        SELECT track_name, artist_name AS artist, count(*) AS play_count, max(played_at) AS last_played
        FROM (SELECT track_name, artist_name, played_at FROM {src} WHERE {where})
        WHERE contains(lower(track_name), ?) OR contains(lower(artist_name), ?)
        GROUP BY track_name, artist_name
        ORDER BY play_count DESC, last_played DESC, track_name, artist_name
        LIMIT {int(p.limit)}""", [*args, needle, needle])


PLAY_COLUMNS = ["played_at", "ms_played", "track_id", "track_name", "artist_name", "album_name", "platform",
                "country", "reason_start", "reason_end", "shuffle", "skipped", "source"]


def _plays(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, PlaysParams)
    where, args = _where(p)
    cols = ", ".join(PLAY_COLUMNS)
    return (f"""
        SELECT {cols} FROM {src} WHERE {where}
        ORDER BY played_at, play_id LIMIT {int(p.limit)} OFFSET {int(p.offset)}""", args)


def plays_stream_sql(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    """Every play of the range in time order, no paging: the streamed route reads it batch by batch."""
    where, args = _where(p)
    return f"SELECT {', '.join(PLAY_COLUMNS)} FROM {src} WHERE {where} ORDER BY played_at, play_id", args


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in [
        Tool("top_tracks", TopParams, _top_tracks, "Most played tracks: play_count and total minutes"),
        Tool("top_artists", TopParams, _top_artists, "Most played artists: play_count, total minutes, unique tracks"),
        Tool("top_genres", TopParams, _top_genres, "Most played genres (needs imported Web API artist objects)",
             needs_artists=True),
        Tool("listening_stats", StatsParams, _stats, "Listening per day, ISO week or month"),
        Tool("hourly_pattern", RangeParams, _hours, "Plays by ISO weekday (1=Mon) x hour of day (UTC)"),
        Tool("search_tracks", SearchParams, _search, "Tracks whose name or artist contains a substring"),
        Tool("plays", PlaysParams, _plays, "The plays themselves, in time order, paged"),
    ]
}


def validate(tool_name: str, raw: dict[str, Any]) -> RangeParams:
    """Validated parameters of a tool, or InvalidParameter naming what is wrong."""
    from pydantic import ValidationError

    tool = TOOLS.get(tool_name)
    if tool is None:
        raise InvalidParameter(f"unknown tool {tool_name!r}", details={"tools": sorted(TOOLS)})
    try:
        return tool.params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
        raise InvalidParameter(f"invalid parameters for {tool_name}: {problems}") from None
