"""The racing lake domain: the JV-Data tables of the lake served as ``racing.lake`` (tables, rows, race cards).

Separate from :class:`~kasoku.domains.racing.domain.RacingDomain` (the JV-Link replay, from the
lake's raw records or from JV-Link over COM): the tables answer from the lake every server has,
so a server started on a lake that ``kasoku racing import`` filled serves them with no other
setting. Freshness is the lake's: the engine follows ``RacingLakeVersions``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.domains.racing import lake_routes
from kasoku.domains.racing.lake_source import DATASET, LakeTablesSource, RacingLakeVersions
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake

# The data version decides freshness; the TTL only bounds how long an unread answer stays.
# A year of `se` is tens of MB of Arrow: such answers must be cacheable (L1 is bounded in bytes).
LAKE_POLICY = Policy(ttl_l1=6 * 3600, ttl_l2=6 * 3600, stale_ttl=0.0, max_entry_bytes=256 * 1024 * 1024)


class RacingLakeDomain:
    name = "racing-lake"

    def __init__(self, settings: Settings, lake: Lake, *, workers: int = 2) -> None:
        self.settings = settings
        self.lake = lake
        self.workers = workers
        self.pool: DuckDBPool | None = None
        self.source: LakeTablesSource | None = None

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        self.pool = DuckDBPool(self.lake, workers=self.workers, query_timeout=settings.query_timeout,
                               threads=settings.duckdb_threads, memory_limit=settings.duckdb_memory_limit)
        self.source = LakeTablesSource(self.lake, self.pool)
        engine.register(Dataset(DATASET, LAKE_POLICY, self.source))
        engine.follow(DATASET, RacingLakeVersions(self.pool), interval=settings.version_poll_interval)
        lake_routes.register(app)

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        if self.pool is not None:
            await asyncio.to_thread(self.pool.close)

    async def health(self) -> dict[str, Any]:
        if self.pool is None:
            return {"ok": False, "reason": "not started"}
        return dict(await self.pool.health())
