"""The collector inside a server: its status route and metrics always; with ``collect`` on
(``kasoku serve --collect``) or an ``import_dir`` (``--watch``) the scheduler too, whose commits
invalidate this server's cache at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Query as Q, Request

from kasoku.config import Settings
from kasoku.domains.listening.collector.poll import PollResult
from kasoku.domains.listening.collector.status import CollectorMetrics, collector_status
from kasoku.engine.engine import Engine

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/listening/collector", tags=["listening"])
OPEN_RANGE_TAG = "listening:open-range"


@router.get("/status", summary="Spotify collector: who is logged in, last poll, lag, counters, open and closed gaps")
async def status(request: Request, user_id: str | None = Q(None, max_length=128, description="one user; default: all")) -> dict[str, Any]:
    state = request.app.state.settings.state
    return await asyncio.to_thread(collector_status, state, [user_id] if user_id else None)


def changed_tags(months: list[str]) -> list[str]:
    return [f"month:{m}" for m in months] + [OPEN_RANGE_TAG]


class CollectorDomain:
    name = "collector"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scheduler: Any = None

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        app.include_router(router)
        engine.metrics.registry.register(CollectorMetrics(settings.state))

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
        if not self.settings.collect and self.settings.import_dir is None:
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

    async def health(self) -> dict[str, Any]:
        leader = bool(self.scheduler is not None and self.scheduler.lease.held)
        return {"ok": True, "collect": self.settings.collect, "leader": leader}
