"""The app factory: settings + engine + the domains given to it. It imports no domain."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasoku import __version__
from kasoku.api import admin, batch, errors, mcp
from kasoku.api.fastpath import HitFastPath, HitMemo
from kasoku.config import Settings
from kasoku.errors import ConfigError
from kasoku.engine.engine import Engine
from kasoku.engine.metrics import Metrics
from kasoku.engine.types import SharedTier


class Domain(Protocol):
    """A domain registers datasets with the engine and routes with the app, and may own resources."""

    name: str

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None: ...
    async def startup(self) -> None: ...
    async def shutdown(self) -> None: ...
    async def health(self) -> dict[str, Any]: ...


class MetricsMiddleware:
    """Requests by route and status, and latency. Pure ASGI: cheap enough for the hit path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            metrics = self.metrics
            metrics.child(metrics.requests, name, str(status)).inc()
            metrics.child(metrics.latency, name).observe(time.perf_counter() - started)


def shared_tier(url: str, settings: Settings, engine: Engine) -> SharedTier:
    """The Redis tier, from settings (imported here so a memory-only server never loads redis)."""
    from kasoku.engine.redis_tier import RedisTier

    return RedisTier.from_url(url, metrics=engine.metrics, timeout=settings.redis_timeout,
                              lease=settings.lock_lease, failures=settings.breaker_failures,
                              reset=settings.breaker_reset, clock=engine.clock, queue_size=settings.redis_write_queue)


class KasokuApp(FastAPI):
    """FastAPI with the cache-hit fast path in front: a repeated GET that is a fresh L1 hit
    is answered with stored bytes before FastAPI's own request handling runs."""

    fast_path: HitFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http" and await fast.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, domains: list[Domain], *, engine: Engine | None = None,
               startup_hooks: list[Callable[[FastAPI], Awaitable[None]]] | None = None,
               shutdown_hooks: list[Callable[[FastAPI], Awaitable[None]]] | None = None) -> FastAPI:
    engine = engine or Engine(l1_bytes=settings.cache_l1_bytes,
                              overrides={k: v.model_dump() for k, v in settings.policies.items()})
    if settings.redis_url and engine.l2 is None:
        engine.l2 = shared_tier(settings.redis_url, settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_l2 = getattr(engine.l2, "start", None)
        if start_l2 is not None:
            # Another worker's admin invalidation drops our L1 too, and its news of a new data
            # version makes us check now; Redis being down here is fine (we poll anyway).
            await start_l2(engine.invalidate_local, engine.check_versions)
        for domain in domains:
            await domain.startup()
        await engine.start()  # the first version of every followed dataset, then the polls
        for hook in startup_hooks or []:
            await hook(app)
        try:
            yield
        finally:
            for hook in shutdown_hooks or []:
                await hook(app)
            for domain in domains:
                await domain.shutdown()
            await engine.close()

    app = KasokuApp(title="kasoku", version=__version__, lifespan=lifespan,
                  description="Fast answers over a Parquet lake and slow upstream APIs.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.domains = domains
    app.state.query_routes = {}
    memo = HitMemo()
    app.state.remember_query = memo.remember
    errors.install(app)
    app.include_router(admin.router)
    app.include_router(batch.router)
    app.include_router(mcp.router)

    @app.get("/health", tags=["health"], summary="Liveness and the health of every domain's sources")
    async def health() -> dict[str, Any]:
        checks = {d.name: await d.health() for d in domains}
        ok = all(c.get("ok", True) for c in checks.values())
        l2 = engine.l2.stats() if engine.l2 is not None else None
        versions = {name: v["version"] for name, v in engine.versions.stats().items()}
        return {"ok": ok, "version": __version__, "domains": checks, "cache": {"l1_entries": engine.l1.entries,
                "l2": l2 is not None, "l2_breaker": l2.get("breaker") if l2 else None},
                "data_versions": versions, "worker": os.getpid()}

    for domain in domains:
        domain.register(app, engine, settings)
    unknown = sorted(set(settings.policies) - set(engine.datasets))
    if unknown:
        raise ConfigError(f"policies given for unknown datasets: {', '.join(unknown)}",
                          details={"datasets": sorted(engine.datasets)})
    app.fast_path = HitFastPath(engine=engine, memo=memo)
    app.add_middleware(MetricsMiddleware, metrics=engine.metrics)
    return app
