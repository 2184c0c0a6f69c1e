"""A tiny test-only domain: rows made in memory, a DuckDB-backed stream, registered like a real one.

It lets the wire tests run the real app factory, negotiation, caching headers, batch and
streaming without the lake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any

import duckdb
import pyarrow as pa
from fastapi import APIRouter, FastAPI, Query as Q, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kasoku.api.queries import register_query_route
from kasoku.api.respond import serve_query
from kasoku.api.streaming import choose_stream_format, stream_response
from kasoku.config import Settings
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query, Result
from kasoku.errors import QueryTimeout
from kasoku.lake.streaming import stream_batches

DATASET = "mem"


class RowsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    n: int = Field(3, ge=0, le=200_000, description="rows to return")
    slow: bool = Field(False, description="fail with a timeout instead (for batch error tests)")


class RowsQuery(RowsParams):
    """The route's query model: the tool's params plus the wire's own (see listening/routes.py)."""

    user_id: str | None = Field(None, description="whose rows")
    format: str | None = Field(None, description="json | msgpack | arrow | csv | parquet")


def make_table(n: int) -> pa.Table:
    return pa.table({"i": pa.array(range(n), pa.int64()), "name": [f"track {i % 97}" for i in range(n)],
                     "minutes": [round(i * 0.25, 2) for i in range(n)], "skipped": [i % 3 == 0 for i in range(n)]})


class MemSource:
    def __init__(self) -> None:
        self.runs = 0

    async def run(self, query: Query) -> Result:
        self.runs += 1
        params = RowsParams.model_validate(dict(query.params))
        if params.slow:
            raise QueryTimeout("this item always times out")
        await asyncio.sleep(0)
        return Result(table=make_table(params.n), meta={"n": params.n}, tags=frozenset({"mem"}))


def duckdb_runner(conn: duckdb.DuckDBPyConnection) -> Callable[[Callable[[Any], None]], Any]:
    """A cursor runner like DuckDBPool.run: fn(cursor) on a worker thread."""

    async def run(fn: Callable[[Any], None]) -> None:
        cur = conn.cursor()
        try:
            await asyncio.to_thread(fn, cur)
        finally:
            cur.close()

    return run


STREAM_SQL = ("SELECT i, 'track ' || (i % 97) AS name, i * 0.25 AS minutes, i % 3 = 0 AS skipped "
              "FROM range(?) t(i) ORDER BY i")


class MemDomain:
    name = "mem"

    def __init__(self) -> None:
        self.source = MemSource()
        self.conn = duckdb.connect(":memory:")

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        engine.register(Dataset(DATASET, Policy(ttl_l1=600, ttl_l2=600), self.source))
        router = APIRouter(prefix="/v1/mem", tags=["mem"])
        run = duckdb_runner(self.conn)

        def build(params: Mapping[str, Any]) -> Query:
            raw = dict(params)
            scope = str(raw.pop("user_id", None) or settings.user_id)
            return Query(DATASET, "rows", RowsParams.model_validate(raw).model_dump(mode="json"), scope)

        @router.get("/rows", summary="n rows made in memory")
        async def rows(request: Request, params: Annotated[RowsQuery, Q()]) -> Response:
            return await serve_query(request, Query(DATASET, "rows", params.model_dump(
                mode="json", exclude={"user_id", "format"}), params.user_id or settings.user_id))

        @router.get("/rows/stream", summary="n rows streamed from DuckDB")
        async def rows_stream(request: Request, n: Annotated[int, Q(ge=0)] = 10, batch: int = 1000,
                              format: str | None = None) -> Response:
            fmt = choose_stream_format(request.headers.get("accept"), format)
            batches: AsyncIterator[pa.RecordBatch] = stream_batches(run, STREAM_SQL, [n], batch_size=batch)
            return await stream_response(batches, fmt)

        app.include_router(router)
        register_query_route(app, "/v1/mem/rows", build)

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.conn.close()

    async def health(self) -> dict[str, Any]:
        return {"ok": True}
