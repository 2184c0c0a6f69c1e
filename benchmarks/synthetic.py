"""A synthetic plays-like domain for the wire benchmarks: DuckDB-generated rows, no lake needed.

``build_app()`` is a uvicorn factory (``uvicorn benchmarks.synthetic:build_app --factory``);
``bare_app()`` is the yardstick: a bare Starlette route returning fixed bytes read from
``KASOKU_BENCH_BODY`` with the content type in ``KASOKU_BENCH_TYPE``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import duckdb
import pyarrow as pa
from fastapi import APIRouter, FastAPI, Query as Q, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from kasoku.api.app import create_app
from kasoku.api.queries import register_query_route
from kasoku.api.respond import serve_query
from kasoku.api.streaming import choose_stream_format, stream_response
from kasoku.config import Settings
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query, Result
from kasoku.lake.streaming import stream_batches

PLAYS_SQL = """
    SELECT TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i * 37) AS played_at,
           (60000 + (i * 7919) % 240000)::BIGINT AS ms_played,
           'spotify:track:' || lpad(((i * 31) % 50000)::VARCHAR, 22, '0') AS track_id,
           'Track ' || ((i * 31) % 50000) AS track_name, 'Artist ' || ((i * 13) % 3000) AS artist_name,
           'Album ' || ((i * 17) % 8000) AS album_name, CASE i % 3 WHEN 0 THEN 'android' WHEN 1 THEN 'ios' ELSE 'web' END AS platform,
           'JP' AS country, 'trackdone' AS reason_start, 'trackdone' AS reason_end, i % 5 = 0 AS shuffle, i % 11 = 0 AS skipped
    FROM range(?) t(i)"""  # range() is ordered and DuckDB preserves insertion order: no sort buffer


def plays_table(n: int) -> pa.Table:
    return duckdb.connect(":memory:").execute(PLAYS_SQL, [n]).to_arrow_table()


class PlaysParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    n: int = Field(100, ge=0, le=2_000_000, description="rows")
    start: str | None = Field(None, description="unused; makes validation cost like the real routes")
    end: str | None = Field(None, description="unused")


class PlaysQuery(PlaysParams):
    format: str | None = Field(None, description="json | msgpack | arrow | csv | parquet")
    user_id: str | None = Field(None, description="whose plays")


class SyntheticSource:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    async def run(self, query: Query) -> Result:
        n = int(query.params["n"])
        cur = self.conn.cursor()
        table = await asyncio.to_thread(lambda: cur.execute(PLAYS_SQL, [n]).to_arrow_table())
        return Result(table=table, meta={"n": n})


class SyntheticDomain:
    name = "synthetic"

    def __init__(self) -> None:
        self.conn = duckdb.connect(":memory:")

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        engine.register(Dataset("synthetic", Policy(ttl_l1=3600, ttl_l2=3600), SyntheticSource(self.conn)))
        router = APIRouter(prefix="/v1/synthetic")

        async def run(fn: Callable[[Any], None]) -> None:
            cur = self.conn.cursor()
            try:
                await asyncio.to_thread(fn, cur)
            finally:
                cur.close()

        @router.get("/plays")
        async def plays(request: Request, params: Annotated[PlaysQuery, Q()]) -> Response:
            query = Query("synthetic", "plays", params.model_dump(mode="json", exclude={"format", "user_id"}),
                          params.user_id or settings.user_id)
            return await serve_query(request, query)

        @router.get("/plays/stream")
        async def plays_stream(request: Request, n: int = 1000, format: str | None = None) -> Response:
            fmt = choose_stream_format(request.headers.get("accept"), format)
            return await stream_response(stream_batches(run, PLAYS_SQL, [n], batch_size=8192), fmt)

        def build(params: Mapping[str, Any]) -> Query:
            return Query("synthetic", "plays", PlaysParams.model_validate(dict(params)).model_dump(mode="json"), settings.user_id)

        app.include_router(router)
        register_query_route(app, "/v1/synthetic/plays", build)

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.conn.close()

    async def health(self) -> dict[str, Any]:
        return {"ok": True}


def build_app() -> FastAPI:
    settings = Settings(lake="./.kasoku/bench-unused")
    app = create_app(settings, [SyntheticDomain()])
    if os.environ.get("KASOKU_BENCH_NO_FASTPATH"):
        app.state.remember_query = None  # every request takes the full FastAPI route
    if os.environ.get("KASOKU_BENCH_NO_GUARD"):
        app.front = None  # type: ignore[attr-defined]  # no keys, limits or Host checks: the baseline of secure_overhead
    return app


def bare_app() -> Starlette:
    with open(os.environ["KASOKU_BENCH_BODY"], "rb") as f:
        body = f.read()
    media = os.environ.get("KASOKU_BENCH_TYPE", "application/json")

    async def fixed(_request: Any) -> Response:
        return Response(body, media_type=media)

    return Starlette(routes=[Route("/v1/synthetic/plays", fixed)])
