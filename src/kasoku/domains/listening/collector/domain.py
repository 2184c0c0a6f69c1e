"""The collector inside a server: its status route, metrics and admin-page panel always; the
scheduler too (schedule.py: the nightly lake maintenance and roll-up jobs in every server unless
their cron settings are empty; polls with ``collect`` on, ``kasoku serve --collect``; the watched
folder with an ``import_dir``, ``--watch``), whose commits invalidate this server's cache at once.

Gaps are read from the lake through one read-only connection the domain holds (a one-worker
pool: every read is a new transaction, so it sees the newest snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Query as Q, Request

from kasoku.config import Settings
from kasoku.domains.listening.collector.gaps import Gap, list_gaps
from kasoku.domains.listening.collector.poll import PollResult
from kasoku.domains.listening.collector.status import CollectorMetrics, collector_status
from kasoku.engine.engine import Engine
from kasoku.lake.duckdb_pool import DuckDBPool

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/listening/collector", tags=["listening"])
OPEN_RANGE_TAG = "listening:open-range"


@router.get("/status", summary="Spotify collector: who is logged in, last poll, lag, counters, open and closed gaps")
async def status(request: Request, user_id: str | None = Q(None, max_length=128, description="one user; default: all")) -> dict[str, Any]:
    domain: CollectorDomain = request.app.state.collector
    return await domain.status([user_id] if user_id else None)


def changed_tags(months: list[str]) -> list[str]:
    return [f"month:{m}" for m in months] + [OPEN_RANGE_TAG]


class CollectorDomain:
    name = "collector"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scheduler: Any = None
        self.reader: DuckDBPool | None = None

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        from kasoku.domains.listening.domain import lake_from_settings

        self.engine = engine
        # The listening domain registered first and created the lake's tables (collector_gaps too).
        self.reader = DuckDBPool(lake_from_settings(settings), workers=1, query_timeout=10.0, threads=1)
        app.state.collector = self
        app.include_router(router)
        engine.metrics.registry.register(CollectorMetrics(settings.state, self.gaps_now))
        # The dashboard's admin page shows this panel (web/ knows it by name, imports no domain).
        panels = getattr(app.state, "admin_panels", None)
        if panels is None:
            panels = app.state.admin_panels = {}
        panels["collector"] = self.status

    def gaps_now(self) -> list[Gap]:
        """The lake's gaps, blocking (the metrics scrape; a small table, one catalog read)."""
        return [] if self.reader is None else self.reader.run_sync(list_gaps)

    async def status(self, users: list[str] | None = None) -> dict[str, Any]:
        gaps = [] if self.reader is None else await self.reader.run(list_gaps)
        return await asyncio.to_thread(collector_status, self.settings.state, gaps, users)

    def after_commit(self, months: list[str]) -> None:
        """Called on the scheduler's thread after a commit: make this server see it now."""
        if self.loop is None or self.engine is None:
            return
        engine = self.engine
        check = getattr(engine, "check_versions", None)  # data versions (when the engine follows them)
        coro = check("listening") if callable(check) else engine.invalidate(tags=changed_tags(months))
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            future.result(timeout=10)
        except Exception:
            log.exception("collector: could not refresh the server after a commit")

    async def startup(self) -> None:
        sp = self.settings.spotify
        if not (self.settings.collect or self.settings.import_dir is not None or sp.maintenance_cron.strip()
                or sp.rollup_cron.strip()):
            return
        from kasoku.domains.listening.collector.schedule import CollectorScheduler
        from kasoku.domains.listening.collector.watch import ImportFolder
        from kasoku.domains.listening.domain import lake_from_settings

        self.loop = asyncio.get_running_loop()
        lake = lake_from_settings(self.settings)  # the writer's own handle; readers refresh on invalidation
        watch = None
        if self.settings.import_dir is not None:
            folder = ImportFolder(self.settings, lake, self.settings.import_dir, user_id=self.settings.user_id,
                                  on_commit=lambda summary: self.after_commit(summary.months_rewritten))
            watch = folder.scan
        self.scheduler = CollectorScheduler(self.settings, lake, watch=watch, poll=self.settings.collect,
                                            on_commit=lambda result: self._polled(result))
        self.scheduler.start()

    def _polled(self, result: PollResult) -> None:
        if result.summary is not None:
            self.after_commit(result.summary.months_rewritten)

    async def shutdown(self) -> None:
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop)
        if self.reader is not None:
            await asyncio.to_thread(self.reader.close)

    async def health(self) -> dict[str, Any]:
        leader = bool(self.scheduler is not None and self.scheduler.lease.held)
        return {"ok": True, "collect": self.settings.collect, "leader": leader}
