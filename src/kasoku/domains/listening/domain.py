"""The listening domain: registers its dataset (policy: 6 h, ingest runs twice a day) and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.domains.listening import routes
from kasoku.domains.listening.rollup_match import LakeRollups
from kasoku.domains.listening.source import ListeningSource
from kasoku.engine.engine import Engine
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.tools import RangeParams
from kasoku.domains.listening.versions import ListeningVersions
from kasoku.engine.types import Dataset, Policy, Query
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake, S3Options, current_snapshot, default_s3_catalog
from kasoku.lake.probe import storage_reachable

if TYPE_CHECKING:
    from kasoku.domains.listening.rollup_build import RollupBuilder

log = logging.getLogger(__name__)

LISTENING_POLICY = Policy(ttl_l1=6 * 3600, ttl_l2=6 * 3600, stale_ttl=600)


def lake_from_settings(settings: Settings, url: str | None = None) -> Lake:
    s3 = settings.s3
    url = url or settings.lake
    catalog = settings.lake_catalog
    if catalog is None and url.startswith("s3://"):
        catalog = default_s3_catalog(str(settings.state), url)
    return Lake(url, S3Options(endpoint=s3.endpoint, access_key_id=s3.access_key_id,
                               secret_access_key=s3.secret_access_key, session_token=s3.session_token,
                               region=s3.region, url_style=s3.url_style, use_ssl=s3.use_ssl), catalog=catalog)


def rollup_hook(settings: Settings) -> "RollupBuilder":
    """The ingest's roll-up step: rebuilt with every ingest; switched off, the touched months'
    roll-ups are dropped (never left disagreeing with the new plays)."""
    from kasoku.domains.listening.rollup_build import RollupBuilder

    return RollupBuilder(drop_only=not settings.rollups)


def prepare_lake(lake: Lake) -> int | None:
    """Create the listening tables if the lake lacks them (one transaction; a no-op otherwise)."""
    from kasoku.domains.listening.tables import ensure_tables
    from kasoku.lake.transaction import write

    return write(lake, lambda con: (None, ensure_tables(con)), message="create listening tables").snapshot


class ListeningDomain:
    name = "listening"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lake = lake_from_settings(settings)
        self.pool: DuckDBPool | None = None
        self.stream_pool: DuckDBPool | None = None
        self.probe_pool: DuckDBPool | None = None  # readiness only: never queued behind queries
        self.source: ListeningSource | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._pool_health: dict[str, Any] | None = None

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        prepare_lake(self.lake)  # the pool attaches read-only: the tables must exist first
        self.pool = DuckDBPool(self.lake, workers=settings.duckdb_workers, query_timeout=settings.query_timeout,
                               threads=settings.duckdb_threads, memory_limit=settings.duckdb_memory_limit,
                               nice=settings.duckdb_nice)
        self.stream_pool = DuckDBPool(self.lake, workers=settings.limits.stream_workers,
                                      query_timeout=settings.query_timeout, threads=settings.duckdb_threads,
                                      memory_limit=settings.duckdb_memory_limit, nice=settings.duckdb_nice)
        # Readiness reads the catalog and lists storage on a connection of its own, at the event
        # loop's priority: through the query pool it would wait behind the very queries it is
        # asked about (50 heavy queries made /health take 2 s and flap between ok and not).
        self.probe_pool = DuckDBPool(self.lake, workers=1, query_timeout=5.0, threads=1, nice=0)
        catalog = SnapshotCatalog(self.pool)
        # wait=False: a request never waits for the play index of a new snapshot (it takes the DuckLake plan).
        matcher = LakeRollups(self.pool, catalog, wait=False) if settings.rollups else None
        self.source = ListeningSource(self.lake, self.pool, rollups=matcher, catalog=catalog,
                                      stream_pool=self.stream_pool)
        engine.register(Dataset(routes.DATASET, LISTENING_POLICY, self.source, stream=self._stream))
        # The one freshness mechanism: every worker polls the lake's snapshot id itself; the
        # versions it sees also move the source's pinned snapshot forward (never behind the engine).
        engine.follow(routes.DATASET, ListeningVersions(self.lake, self.pool, catalog=catalog),
                      interval=settings.version_poll_interval)
        app.include_router(routes.router)
        routes.register_batch_routes(app, settings)

    def _stream(self, query: Query) -> AsyncIterator[pa.RecordBatch]:
        """Every play of the query's range, batch by batch (the dataset's streaming capability)."""
        if self.source is None:
            raise RuntimeError("the listening domain streams before it was registered")
        return self.source.stream(RangeParams.model_validate(dict(query.params)), query.scope)

    async def startup(self) -> None:
        self._health_task = asyncio.create_task(self._health_loop())

    async def _health_loop(self) -> None:
        """The pool's ``SELECT 1`` in the background: a readiness probe then reads its last result
        instead of queueing behind the queries it is asked about."""
        while True:
            if self.pool is not None:
                with contextlib.suppress(Exception):
                    self._pool_health = await self.pool.health()
            await asyncio.sleep(self.settings.health_interval)

    async def shutdown(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
        for pool in (self.pool, self.stream_pool, self.probe_pool):
            if pool is not None:
                await asyncio.to_thread(pool.close)  # waits for running queries: not on the loop

    async def health(self) -> dict[str, Any]:
        """Readiness: the query pool (its last background check; now if there is none or it is
        closed; saturated is still ready), the lake's DuckLake catalog (its current snapshot) and
        its data storage (lake/probe.py), both read on the probe connection: either unreachable →
        not ready."""
        if self.pool is None:
            return {"ok": False, "reason": "not started"}
        pool = self._pool_health
        if pool is None or self.pool._closed:
            pool = await self.pool.health()
        pool = {**pool, "timeouts": self.pool.timeouts, "reconnects": self.pool.reconnects}  # counters: live
        # A pool whose last SELECT 1 waited past its deadline is busy, not broken: it still
        # answers (slower), so it is reported as saturated and the server stays ready.
        saturated = not pool.get("ok") and str(pool.get("error", "")).startswith("QueryTimeout")
        if saturated:
            pool["saturated"] = True
        out: dict[str, Any] = {"lake": self.lake.url, "duckdb": pool}
        probe = self.probe_pool or self.pool
        try:
            # The lake's catalog answers (a fresh read of its current snapshot, never the memo)
            # and so does its data storage (S3 may be down while the catalog answers).
            snapshot = await probe.run(current_snapshot, timeout=5.0)
            if self.source is not None:
                self.source.catalog.observe(snapshot)
            out["snapshot"] = snapshot
            await probe.run(lambda cur: storage_reachable(cur, self.lake), timeout=5.0)
            lake_ok = True
        except Exception as exc:  # catalog or storage unreachable: say so, do not fail the probe
            lake_ok = False
            text = self.lake.catalog_spec.redact(str(exc))  # a PostgreSQL error may quote the conninfo
            out["lake_error"] = f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
        out["ok"] = (bool(pool.get("ok")) or saturated) and lake_ok
        return out
