"""The app factory: settings + engine + the domains given to it. It imports no domain."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasoku import __version__
from kasoku.api import admin, auth, batch, errors, health, mcp
from kasoku.api.auth import Authenticator, Sessions
from kasoku.api.fastpath import HitFastPath, HitMemo
from kasoku.api.guard import RESPONSES as GUARD_RESPONSES
from kasoku.api.guard import Guard, allowed_host_set
from kasoku.api.limits import RateLimiter, Slots
from kasoku.config import Settings
from kasoku.errors import ConfigError
from kasoku.engine.engine import Engine
from kasoku.engine.metrics import Metrics
from kasoku.engine.types import SharedTier
from kasoku.keys import KeyStore


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
                              reset=settings.breaker_reset, clock=engine.clock, queue_size=settings.redis_write_queue,
                              cluster=settings.redis_cluster)


class KasokuApp(FastAPI):
    """FastAPI with two layers in front: the guard (api/guard.py: sizes, hosts, origins, keys,
    rate) and the cache-hit fast path — a repeated GET that is a fresh L1 hit is answered with
    stored bytes before FastAPI's own request handling runs."""

    fast_path: HitFastPath | None = None
    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if front is not None:
            await front(scope, receive, send)
        else:
            await self.behind_guard(scope, receive, send)

    async def behind_guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The fast path, then FastAPI (what runs when there is no guard)."""
        fast = self.fast_path
        if fast is not None and scope["type"] == "http" and await fast.answer(scope, send):
            return
        await super().__call__(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own request handling (the guard calls the fast path itself, one layer less)."""
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

    # No /docs or /redoc here: FastAPI's pages load Swagger UI from a CDN. kasoku.web serves
    # /docs from assets in the package (kasoku.service installs it).
    app = KasokuApp(title="kasoku", version=__version__, lifespan=lifespan, responses=GUARD_RESPONSES,
                    docs_url=None, redoc_url=None,
                  description="Fast answers over a Parquet lake and slow upstream APIs.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.domains = domains
    app.state.query_routes = {}
    memo = HitMemo(max_bytes=settings.limits.memo_bytes)
    app.state.remember_query = memo.remember
    app.state.public_paths = set()  # auth.make_public adds to it; the guard reads the same set
    authenticator = Authenticator(KeyStore.for_lake(settings.state, settings.lake),
                                  Sessions.in_state(settings.state, settings.session_ttl), settings.admin_token)
    app.state.authenticator = authenticator
    app.state.streams = Slots("streams", settings.limits.streams_per_key, settings.limits.streams_total)
    errors.install(app, excerpt_chars=settings.limits.error_excerpt)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(batch.router)
    app.include_router(mcp.router)

    for domain in domains:
        domain.register(app, engine, settings)
    unknown = sorted(set(settings.policies) - set(engine.datasets))
    if unknown:
        raise ConfigError(f"policies given for unknown datasets: {', '.join(unknown)}",
                          details={"datasets": sorted(engine.datasets)})
    app.fast_path = HitFastPath(engine=engine, memo=memo)
    app.add_middleware(MetricsMiddleware, metrics=engine.metrics)
    app.front = front_of(app, settings, authenticator)
    return app


def front_of(app: KasokuApp, settings: Settings, authenticator: Authenticator) -> ASGIApp:
    """The guard around the app (and CORS around the guard, when origins are configured)."""
    fast = app.fast_path
    front: ASGIApp = Guard(app.handle, first=fast.answer if fast is not None else None,
                           limits=settings.limits, authenticator=authenticator,
                           hosts=allowed_host_set(settings.allowed_hosts, settings.host),
                           origins=frozenset(o.lower().rstrip("/") for o in [*settings.allowed_origins, *settings.cors_origins]),
                           rate=RateLimiter(settings.limits.rate),
                           rate_anonymous=RateLimiter(settings.limits.rate_anonymous), public=app.state.public_paths)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        front = CORSMiddleware(front, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                               allow_headers=["Authorization", "X-API-Key", "Content-Type", "Accept", "If-None-Match"],
                               expose_headers=["ETag", "X-Cache", "Retry-After", "X-Kasoku-Source"], max_age=600)
    return front
