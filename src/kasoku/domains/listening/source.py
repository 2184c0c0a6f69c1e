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
from datetime import date, timedelta
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.tables import ARTISTS, EPISODES, PLAYS, ref
from kasoku.domains.listening.tools import (GENRES_RELATION, RangeParams, all_tools, Tool, min_ms_of, plays_stream_sql,
                                            range_bounds, validate, zone_of)
from kasoku.engine.arrow import JSON_COLUMN_FLAG
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


def in_range(months: tuple[str, ...] | list[str], params: RangeParams) -> list[str]:
    """The given UTC months that hold instants of the range."""
    first, last = utc_days(params)
    lo = f"{first.year:04d}-{first.month:02d}" if first else "0000-00"
    hi = f"{last.year:04d}-{last.month:02d}" if last else "9999-99"
    return [m for m in months if lo <= m <= hi]


def month_filter(month: str, column: str = "played_at") -> str:
    """``column`` (TIMESTAMPTZ) falls in the UTC month ``month`` (prunes to its partition)."""
    y, m = int(month[:4]), int(month[5:7])
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return (f"({column} >= TIMESTAMPTZ '{y:04d}-{m:02d}-01 00:00:00+00' AND "
            f"{column} < TIMESTAMPTZ '{ny:04d}-{nm:02d}-01 00:00:00+00')")


class ListeningSource:
    def __init__(self, lake: Lake, pool: DuckDBPool, rollups: RollupMatcher | None = None,
                 catalog: SnapshotCatalog | None = None, *, stream_pool: DuckDBPool | None = None) -> None:
        self.lake = lake
        self.pool = pool
        self.rollups = rollups
        self.catalog = catalog or SnapshotCatalog(pool)
        # Streams run on workers of their own: slow readers can never take the queries' workers.
        self.stream_pool = stream_pool or pool

    async def run(self, query: Query) -> Result:
        params = validate(query.name, dict(query.params))
        tool = all_tools()[query.name]
        tags = month_tags(tool.span(params) if tool.span is not None else params)
        meta: dict[str, Any] = {"tool": query.name, "user_id": query.scope, "tz": zone_of(params),
                                "min_ms": min_ms_of(params)}
        try:
            snapshot = await self.catalog.current()
            if self.rollups is not None:
                table = await self.rollups.answer(query.name, params, query.scope, snapshot)
                if table is not None:
                    return Result(table=finish(tool, table, params), tags=tags, source="rollup", meta=meta,
                                  version=snapshot)
            table = await self.raw(query.name, params, query.scope, snapshot)
        except duckdb.IOException as exc:
            # A data file of this snapshot is gone (vacuumed past its retention, or storage lost it).
            raise UpstreamUnavailable("the lake's files changed under the server or are missing; retry, or check the lake",
                                      details={"lake": self.lake.url, "error": str(exc).splitlines()[0]},
                                      headers={"Retry-After": "5"}) from None
        return Result(table=finish(tool, table, params), tags=tags, source="raw", meta=meta, version=snapshot)

    async def raw(self, tool_name: str, params: RangeParams, user_id: str, snapshot: int | None = None) -> pa.Table:
        """The tool's SQL over raw plays (or episodes) at ``snapshot`` (default: the current one)."""
        tool = all_tools()[tool_name]
        if snapshot is None:
            snapshot = await self.catalog.current()
        sql, args = tool.sql(ref(EPISODES if tool.table == EPISODES else PLAYS, snapshot), params)
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
        ``query_timeout`` applies to each batch (DuckDB producing it, the client taking it);
        ``timeout`` caps one month's whole query.
        """
        run = functools.partial(self.stream_pool.run, timeout=timeout)
        snapshot = await self.catalog.current()
        for month in in_range(await self.catalog.months(snapshot, PLAYS), params):
            relation = f"(SELECT * FROM {ref(PLAYS, snapshot)} WHERE {month_filter(month)})"
            sql, args = plays_stream_sql(relation, params)
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
