"""The listening source: a tool's SQL over exactly the month partitions its range touches.

It is the only caller of DuckDB for this domain (through the pool), and it decides which
files a query reads (B1: partition pruning by month via the lake manifest — months without
data are simply absent) and which roll-up, if any, answers instead (see rollups).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import date
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from kasoku.domains.listening.tools import GENRES_RELATION, TOOLS, RangeParams, plays_stream_sql, validate
from kasoku.engine.types import Query, Result
from kasoku.errors import NotFound, UpstreamUnavailable
from kasoku.lake.duckdb_pool import DuckDBPool, sql_file_list
from kasoku.lake.storage import Lake
from kasoku.lake.streaming import stream_batches

PLAYS = "plays"
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

def month_tags(params: RangeParams) -> frozenset[str]:
    """Which data an answer depends on: the months of its range (open ranges: every month)."""
    if params.start is None or params.end is None:
        return frozenset({OPEN_RANGE_TAG})
    return frozenset(f"month:{m}" for m in months_between(params.start, params.end))

def touched_months(lake: Lake, params: RangeParams) -> list[str]:
    present = lake.months(PLAYS)
    lo = f"{params.start.year:04d}-{params.start.month:02d}" if params.start else "0000-00"
    hi = f"{params.end.year:04d}-{params.end.month:02d}" if params.end else "9999-99"
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
        tags = month_tags(params)
        meta: dict[str, Any] = {"tool": query.name, "user_id": query.scope}
        if self.rollups is not None:
            table = await self.rollups.answer(query.name, params, query.scope)
            if table is not None:
                return Result(table=table, tags=tags, source="rollup", meta=meta)
        table = await self.raw(query.name, params, query.scope)
        return Result(table=table, tags=tags, source="raw", meta=meta)

    async def raw(self, tool_name: str, params: RangeParams, user_id: str) -> pa.Table:
        tool = TOOLS[tool_name]
        for attempt in (1, 2):
            files = self.lake.files(PLAYS, touched_months(self.lake, params))
            sql, args = tool.sql(plays_relation(files), params)
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


def plays_relation(files: list[str]) -> str:
    """A FROM-clause for the given Parquet files; an empty, typed relation when there are none."""
    if not files:
        return ("(SELECT * FROM (VALUES (NULL::VARCHAR, NULL::VARCHAR, NULL::TIMESTAMPTZ, NULL::BIGINT, NULL::VARCHAR, "
                "NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, "
                "NULL::VARCHAR, NULL::BOOLEAN, NULL::BOOLEAN, NULL::VARCHAR)) AS t(play_id, user_id, played_at, "
                "ms_played, track_id, track_name, artist_name, album_name, platform, country, reason_start, "
                "reason_end, shuffle, skipped, source) WHERE false)")
    return f"read_parquet({sql_file_list(files)})"
