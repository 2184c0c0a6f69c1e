"""The listening tools: named queries with validated parameters, and their SQL over raw plays.

Every tool reads ``plays`` through ``read_parquet([files])`` where the file list holds only
the month partitions its date range touches (B1), and every SELECT names the columns it uses
(B2). Ranges are inclusive *local* calendar days in the params' zone (``tz``, default UTC) over
``played_at`` (the end of the play, UTC): the instants ``[local midnight of start, local midnight
after end)`` (zones.py). Buckets (day, ISO week, month, hour, weekday) are local too. ``min_ms``
is the play rule: streams shorter are not counted. Ties are ordered deterministically so that
roll-ups and raw scans agree row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kasoku.domains.listening.zones import OPEN_SPAN, UTC, check_zone, local_bounds, local_sql
from kasoku.errors import InvalidParameter

MAX_MIN_MS = 86_400_000


# Days a range may name: wide enough for any listening history, narrow enough that a range's
# month tags stay few and ``end + 1 day`` never leaves the calendar (9999-12-31 did: a 500).
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2199, 12, 31)


class RangeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                               description="first local day (ISO date, in tz), inclusive; omitted = from the beginning")
    end: date | None = Field(None, ge=FIRST_DAY, le=LAST_DAY,
                             description="last local day (ISO date, in tz), inclusive; omitted = up to now")
    tz: str | None = Field(None, max_length=64, description="IANA time zone of start/end and of every bucket; default: the user's zone (settings)")
    min_ms: int | None = Field(None, ge=0, le=MAX_MIN_MS, description="play rule: streams shorter than this (ms) are not counted; default: the user's (settings); 30000 = Spotify's rule")

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_zone(value) if value is not None else None

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
    # The lake table the relation reads (``plays``; podcasts: ``episodes``).
    table: str = "plays"
    # The span of plays the SQL reads when wider than the range (history, a previous range).
    span: Callable[[RangeParams], RangeParams] | None = None
    # Columns holding JSON text (sections of a page): flagged so every format embeds them.
    json_columns: tuple[str, ...] = ()
    # One-row pages: 404 when this column of the row is 0 (nothing of the id was played).
    not_found_when_zero: str | None = None


def zone_of(params: RangeParams) -> str:
    return params.tz or UTC


def min_ms_of(params: RangeParams) -> int:
    return params.min_ms or 0


def range_bounds(params: RangeParams) -> tuple[datetime | None, datetime | None]:
    """[lo, hi) instants in UTC for the inclusive local day range."""
    return local_bounds(params.start, params.end, zone_of(params))


def local_time(params: RangeParams, column: str = "played_at") -> str:
    """SQL for ``column`` (TIMESTAMPTZ) as local wall-clock time; UTC stays the column itself.

    The offsets written into the SQL cover the range's years (open ranges: zones.OPEN_SPAN), so
    the raw and the roll-up SQL of one request use the identical expression."""
    tz = zone_of(params)
    if tz == UTC:
        return column
    first = params.start.year - 1 if params.start is not None else OPEN_SPAN[0]
    last = params.end.year + 1 if params.end is not None else OPEN_SPAN[1]
    return local_sql(tz, column, first, last)


def _where(params: RangeParams, user_id_param: bool = True) -> tuple[str, list[Any]]:
    clauses, args = ["user_id = ?"], []
    lo, hi = range_bounds(params)
    if lo is not None:
        clauses.append("played_at >= ?")
        args.append(lo)
    if hi is not None:
        clauses.append("played_at < ?")
        args.append(hi)
    if min_ms_of(params) > 0:
        clauses.append("ms_played >= ?")
        args.append(min_ms_of(params))
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
        SELECT strftime({local_time(p)}, '{fmt}') AS period, CAST(sum(ms_played) AS BIGINT) AS total_ms,
               count(*) AS track_count, count(DISTINCT (track_name, artist_name)) AS unique_tracks
        FROM (SELECT played_at, ms_played, track_name, artist_name FROM {src} WHERE {where})
        GROUP BY period ORDER BY period""", args)


def _hours(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    where, args = _where(p)
    return (f"""
        SELECT CAST(isodow({local_time(p)}) AS INTEGER) AS weekday, CAST(hour({local_time(p)}) AS INTEGER) AS hour,
               count(*) AS play_count, round(sum(ms_played) / 60000.0, 2) AS total_minutes
        FROM (SELECT played_at, ms_played FROM {src} WHERE {where})
        GROUP BY weekday, hour ORDER BY weekday, hour""", args)


def _search(src: str, p: RangeParams) -> tuple[str, list[Any]]:
    assert isinstance(p, SearchParams)
    where, args = _where(p)
    needle = p.q.lower()  # the same lower-casing as SQL lower() on the column (casefold would turn ß into ss)
    match, extra = "contains(lower(track_name), ?) OR contains(lower(artist_name), ?)", [needle, needle]
    if latin_only(needle):
        # Accent-blind as well (joga finds Jóga). Only for Latin queries: strip_accents would also
        # drop the dakuten of kana (ガ → カ), and a Japanese query must match as written.
        match += " OR contains(strip_accents(lower(track_name)), ?) OR contains(strip_accents(lower(artist_name)), ?)"
        extra += [strip_accents(needle)] * 2
    return (f"""
        SELECT track_name, artist_name AS artist, count(*) AS play_count, max(played_at) AS last_played
        FROM (SELECT track_name, artist_name, played_at FROM {src} WHERE {where})
        WHERE {match}
        GROUP BY track_name, artist_name
        ORDER BY play_count DESC, last_played DESC, track_name, artist_name
        LIMIT {int(p.limit)}""", [*args, *extra])


def latin_only(text: str) -> bool:
    """Only Latin letters (with their accents), digits, punctuation and spaces?"""
    return all(ord(c) < 0x250 or 0x1E00 <= ord(c) <= 0x1EFF or 0x300 <= ord(c) <= 0x36F for c in text)


def strip_accents(text: str) -> str:
    """What DuckDB's strip_accents does for Latin text: decompose, drop combining marks."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


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
        Tool("hourly_pattern", RangeParams, _hours, "Plays by local ISO weekday (1=Mon) x local hour of day"),
        Tool("search_tracks", SearchParams, _search, "Tracks whose name or artist contains a substring"),
        Tool("plays", PlaysParams, _plays, "The plays themselves, in time order, paged"),
    ]
}


def all_tools() -> dict[str, Tool]:
    """Every tool: these, plus the statistics and page tools of their own modules (imported on
    first use: they build on this module)."""
    if "top_albums" not in TOOLS:
        from kasoku.domains.listening import pages, statistics

        for tool in (*statistics.TOOLS, *pages.TOOLS):
            TOOLS[tool.name] = tool
    return TOOLS


def validate(tool_name: str, raw: dict[str, Any]) -> RangeParams:
    """Validated parameters of a tool, or InvalidParameter naming what is wrong."""
    from pydantic import ValidationError

    tool = all_tools().get(tool_name)
    if tool is None:
        raise InvalidParameter(f"unknown tool {tool_name!r}", details={"tools": sorted(TOOLS)})
    try:
        return tool.params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
        raise InvalidParameter(f"invalid parameters for {tool_name}: {problems}") from None
