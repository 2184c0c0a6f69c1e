"""The listening source: a tool's SQL over the DuckLake ``plays`` table, pinned to one snapshot.

It is the only caller of DuckDB for this domain (through the pool). Each run pins the lake's
current snapshot, answers from a roll-up when one gives the identical answer (rollup_match),
else runs the tool's SQL over ``lake.plays AT (VERSION => s)``, and sets ``Result.version = s``.
B1 (a query reads only the month files of its range) comes from DuckLake itself: plays are
partitioned by year/month and its scan skips every file whose ``played_at`` range misses
the filter — DuckDB's profile lists the files read (tests check it).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import date
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.tables import ARTISTS, PLAYS, ref
from kasoku.domains.listening.tools import GENRES_RELATION, TOOLS, RangeParams, plays_stream_sql, validate
from kasoku.engine.types import Query, Result
from kasoku.errors import NotFound, UpstreamUnavailable
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake
from kasoku.lake.streaming import stream_batches

OPEN_RANGE_TAG = "listening:open-range"


class RollupMatcher(Protocol):
    async def answer(self, tool: str, params: RangeParams, user_id: str, snapshot: int) -> pa.Table | None: ...


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


def in_range(months: tuple[str, ...] | list[str], params: RangeParams) -> list[str]:
    """The given months that the range touches."""
    lo = f"{params.start.year:04d}-{params.start.month:02d}" if params.start else "0000-00"
    hi = f"{params.end.year:04d}-{params.end.month:02d}" if params.end else "9999-99"
    return [m for m in months if lo <= m <= hi]


class ListeningSource:
    def __init__(self, lake: Lake, pool: DuckDBPool, rollups: RollupMatcher | None = None,
                 catalog: SnapshotCatalog | None = None) -> None:
        self.lake = lake
        self.pool = pool
        self.rollups = rollups
        self.catalog = catalog or SnapshotCatalog(pool)

    async def run(self, query: Query) -> Result:
        params = validate(query.name, dict(query.params))
        tags = month_tags(params)
        meta: dict[str, Any] = {"tool": query.name, "user_id": query.scope}
        try:
            snapshot = await self.catalog.current()
            if self.rollups is not None:
                table = await self.rollups.answer(query.name, params, query.scope, snapshot)
                if table is not None:
                    return Result(table=table, tags=tags, source="rollup", meta=meta, version=snapshot)
            table = await self.raw(query.name, params, query.scope, snapshot)
        except duckdb.IOException as exc:
            # A data file of this snapshot is gone (vacuumed past its retention, or storage lost it).
            raise UpstreamUnavailable("the lake's files changed under the server or are missing; retry, or check the lake",
                                      details={"lake": self.lake.url, "error": str(exc).splitlines()[0]},
                                      headers={"Retry-After": "5"}) from None
        return Result(table=table, tags=tags, source="raw", meta=meta, version=snapshot)

    async def raw(self, tool_name: str, params: RangeParams, user_id: str, snapshot: int | None = None) -> pa.Table:
        """The tool's SQL over raw plays at ``snapshot`` (default: the current one)."""
        tool = TOOLS[tool_name]
        if snapshot is None:
            snapshot = await self.catalog.current()
        sql, args = tool.sql(ref(PLAYS, snapshot), params)
        if tool.needs_artists:
            sql = f"WITH {GENRES_RELATION} AS ({await self.artist_genres_sql(snapshot)}) {sql}"
        return await self.pool.arrow(sql, [user_id, *args])

    async def artist_genres_sql(self, snapshot: int) -> str:
        """(artist_name, genre) pairs of the imported artist objects; NotFound when there are none.

        DISTINCT: two artist objects may share a name, and a play must count once per genre.
        """
        if not await self.catalog.has_rows(snapshot, ARTISTS):
            raise NotFound(NO_GENRES, details={"table": ARTISTS})
        return f"SELECT DISTINCT artist_name, unnest(genres) AS genre FROM {ref(ARTISTS, snapshot)}"

    async def stream(self, params: RangeParams, user_id: str, *, batch_size: int = 65_536,
                     timeout: float = 3600.0) -> AsyncIterator[pa.RecordBatch]:
        """Every play of the range in time order, batch by batch (bounded memory; never cached).

        One month at a time, all at one snapshot: DuckDB must hold a sorted result whole
        before the first batch, so sorting month by month bounds memory by the largest month.
        The deadline is per month's query, not the stream's: a slow client keeps a worker waiting.
        """
        run = functools.partial(self.pool.run, timeout=timeout)
        snapshot = await self.catalog.current()
        for month in in_range(await self.catalog.months(snapshot, PLAYS), params):
            first = date(int(month[:4]), int(month[5:]), 1)
            last = date(first.year + first.month // 12, first.month % 12 + 1, 1).toordinal() - 1
            lo = max(first, params.start) if params.start else first
            hi = min(date.fromordinal(last), params.end) if params.end else date.fromordinal(last)
            sql, args = plays_stream_sql(ref(PLAYS, snapshot), RangeParams(start=lo, end=hi))
            async for batch in stream_batches(run, sql, [user_id, *args], batch_size=batch_size):
                yield batch


NO_GENRES = "no artist genres imported; import saved Web API artist objects"
