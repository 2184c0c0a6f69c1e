"""A test-only domain (api/ must never import one): a deterministic in-memory source of fruit
prices by month, and an app factory for uvicorn (``--factory tests.e2e.cache.fruit:create``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, Request
from starlette.responses import Response

from kasoku.api.app import create_app
from kasoku.api.respond import serve_query
from kasoku.config import Settings
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query, Result


class FruitSource:
    """Answers from memory after a short delay; counts its runs (this process only)."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.runs = 0

    async def run(self, query: Query) -> Result:
        self.runs += 1
        await asyncio.sleep(self.delay)
        month = str(query.params["month"])
        table = pa.table({"fruit": ["apple", "pear"], "month": [month, month], "price": [1.0, 2.5]})
        return Result(table=table, tags=frozenset({f"month:{month}"}), meta={"month": month})


class FruitDomain:
    name = "fruit"

    def __init__(self) -> None:
        self.source = FruitSource()

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        engine.register(Dataset("fruit", Policy(ttl_l1=300, ttl_l2=3600), self.source))

        @app.get("/fruit/{month}")
        async def prices(month: str, request: Request) -> Response:
            return await serve_query(request, Query("fruit", "prices", {"month": month}))

        @app.get("/fruit-runs")
        async def runs() -> dict[str, Any]:
            return {"runs": self.source.runs}

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"ok": True}


def create() -> FastAPI:
    return create_app(Settings(), [FruitDomain()])
