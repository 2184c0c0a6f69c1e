"""The listening source: a tool's SQL over exactly the month partitions its range touches.

It is the only caller of DuckDB for this domain (through the pool), and it decides which
files a query reads (B1: partition pruning by month via the lake manifest — months without
data are simply absent) and which roll-up, if any, answers instead (see rollups).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from kasoku.domains.listening.tools import (GENRES_RELATION, RangeParams, all_tools, Tool, min_ms_of, plays_stream_sql,
                                            range_bounds, validate, zone_of)
from kasoku.engine.arrow import JSON_COLUMN_FLAG
from kasoku.engine.types import Query, Result
from kasoku.errors import NotFound, UpstreamUnavailable
from kasoku.lake.duckdb_pool import DuckDBPool, sql_file_list
from kasoku.lake.storage import Lake
from kasoku.lake.streaming import stream_batches

PLAYS = "plays"
EPISODES = "episodes"
ARTISTS = "artists"
OPEN_RANGE_TAG = "listening:open-range"

class RollupMatcher(Protocol):
    async def answer(self, tool: str, params: RangeParams, user_id: str) -> pa.Table | None: ...

def months_between(start: date, end: date) -> list[str]:
    months, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months

def utc_days(params: RangeParams) -> tuple[date | None, date | None]:
    """First and last UTC day the range's instants touch (a local range may spill into the
    UTC day, and month, before or after its own)."""
    lo, hi = range_bounds(params)
    first = lo.date() if lo is not None else None
    last = (hi - timedelta(microseconds=1)).date() if hi is not None else None
    return first, last

def month_tags(params: RangeParams) -> frozenset[str]:
    """Which data an answer depends on: the UTC months (lake partitions) of its range (open
    ranges: every month)."""
    first, last = utc_days(params)
    if first is None or last is None:
        return frozenset({OPEN_RANGE_TAG})
    return frozenset(f"month:{m}" for m in months_between(first, last))

def touched_months(lake: Lake, params: RangeParams, table: str = PLAYS) -> list[str]:
    """The lake's UTC month partitions of ``table`` holding instants of the range."""
    present = lake.months(table)
    first, last = utc_days(params)
    lo = f"{first.year:04d}-{first.month:02d}" if first else "0000-00"
    hi = f"{last.year:04d}-{last.month:02d}" if last else "9999-99"
    return [m for m in present if lo <= m <= hi]

class ListeningSource:
    def __init__(self, lake: Lake, pool: DuckDBPool, rollups: RollupMatcher | None = None, *,
                 stream_pool: DuckDBPool | None = None) -> None:
        self.lake = lake
        self.pool = pool
        self.rollups = rollups
        # Streams run on workers of their own: slow readers can never take the queries' workers.
        self.stream_pool = stream_pool or pool

    async def run(self, query: Query) -> Result:
        params = validate(query.name, dict(query.params))
        tool = all_tools()[query.name]
        tags = month_tags(tool.span(params) if tool.span is not None else params)
        meta: dict[str, Any] = {"tool": query.name, "user_id": query.scope, "tz": zone_of(params),
                                "min_ms": min_ms_of(params)}
        if self.rollups is not None:
            table = await self.rollups.answer(query.name, params, query.scope)
            if table is not None:
                return Result(table=finish(tool, table, params), tags=tags, source="rollup", meta=meta)
        table = await self.raw(query.name, params, query.scope)
        return Result(table=finish(tool, table, params), tags=tags, source="raw", meta=meta)

    async def raw(self, tool_name: str, params: RangeParams, user_id: str) -> pa.Table:
        tool = all_tools()[tool_name]
        span = tool.span(params) if tool.span is not None else params
        for attempt in (1, 2):
            files = self.lake.files(tool.table, touched_months(self.lake, span, tool.table))
            relation = episodes_relation(files) if tool.table == EPISODES else plays_relation(files)
            sql, args = tool.sql(relation, params)
            if tool.needs_artists:
                sql = f"WITH {GENRES_RELATION} AS ({artist_genres_sql(self.lake)}) {sql}"
            try:
                return await self.pool.arrow(sql, [user_id, *args])
            except duckdb.IOException as exc:
                # A file of our manifest is gone: another process committed and its grace period
                # passed. Re-read the manifest once; if files are still missing, say so clearly.
                if attempt == 1 and await asyncio.to_thread(self.lake.refresh):
                    continue
                raise UpstreamUnavailable("the lake's files changed under the server or are missing; "
                                          "retry, or check the lake",
                                          details={"lake": self.lake.url, "error": str(exc).splitlines()[0]},
                                          headers={"Retry-After": "5"}) from None
        raise AssertionError("unreachable: the loop returns or raises")

    async def stream(self, params: RangeParams, user_id: str, *, batch_size: int = 65_536,
                     timeout: float = 3600.0) -> AsyncIterator[pa.RecordBatch]:
        """Every play of the range in time order, batch by batch (bounded memory; never cached).

        One month at a time: DuckDB must hold a sorted result whole before the first batch, so
        sorting month by month bounds memory by the largest month, not by the range.
        ``query_timeout`` applies to each batch (DuckDB producing it, the client taking it);
        ``timeout`` caps one month's whole query.
        """
        run = functools.partial(self.stream_pool.run, timeout=timeout)
        for month in touched_months(self.lake, params):
            sql, args = plays_stream_sql(plays_relation(self.lake.files(PLAYS, [month])), params)
            async for batch in stream_batches(run, sql, [user_id, *args], batch_size=batch_size,
                                              chunk_timeout=self.stream_pool.query_timeout):
                yield batch

def finish(tool: Tool, table: pa.Table, params: RangeParams) -> pa.Table:
    """Flag JSON columns for the encoders; a page of something never played is a 404."""
    if tool.not_found_when_zero is not None:
        rows = table.column(tool.not_found_when_zero).to_pylist() if table.num_rows else [0]
        if not rows or not rows[0]:
            ident = {k: v for k, v in params.model_dump(mode="json").items() if k.endswith("_id") or k == "year"}
            raise NotFound(f"no plays of {', '.join(f'{k} {v!r}' for k, v in ident.items()) or 'this'} in this range",
                           details=ident)
    if tool.json_columns:
        fields = [f.with_metadata({JSON_COLUMN_FLAG: b"1"}) if f.name in tool.json_columns else f for f in table.schema]
        table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    return table


NO_GENRES = "no artist genres imported; import saved Web API artist objects"

def artist_genres_sql(lake: Lake) -> str:
    """(artist_name, genre) pairs of the imported artist objects; NotFound when there are none.

    DISTINCT: two artist objects may share a name, and a play must count once per genre.
    """
    files = lake.files(ARTISTS)
    if not files:
        raise NotFound(NO_GENRES, details={"table": ARTISTS})
    return f"SELECT DISTINCT artist_name, unnest(genres) AS genre FROM {parquet_list(files)}"


def parquet_list(files: list[str]) -> str:
    return f"read_parquet({sql_file_list(files)}, hive_partitioning=false)"


def episodes_relation(files: list[str]) -> str:
    """Like :func:`plays_relation` for the ``episodes`` table."""
    if not files:
        return ("(SELECT * FROM (VALUES (NULL::VARCHAR, NULL::VARCHAR, NULL::TIMESTAMPTZ, NULL::BIGINT, NULL::VARCHAR, "
                "NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR)) AS t(play_id, user_id, "
                "played_at, ms_played, kind, uri, title, show_name, platform, source) WHERE false)")
    return f"read_parquet({sql_file_list(files)})"


def plays_relation(files: list[str]) -> str:
    """A FROM-clause for the given Parquet files; an empty, typed relation when there are none."""
    if not files:
        return ("(SELECT * FROM (VALUES (NULL::VARCHAR, NULL::VARCHAR, NULL::TIMESTAMPTZ, NULL::BIGINT, NULL::VARCHAR, "
                "NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, "
                "NULL::VARCHAR, NULL::BOOLEAN, NULL::BOOLEAN, NULL::VARCHAR)) AS t(play_id, user_id, played_at, "
                "ms_played, track_id, track_name, artist_name, album_name, platform, country, reason_start, "
                "reason_end, shuffle, skipped, source) WHERE false)")
    return f"read_parquet({sql_file_list(files)})"
