"""The racing domain: one dataset per dataspec (``racing.RACE``, ``racing.0B31``, ...), each with
the catalogue's TTLs as its default policy (``settings.policies`` overrides them), the prefetch
rule as an engine hook, the routes, and the upstream client it owns: the lake's raw records
(``LakeClient``, the default), or JV-Link over COM on Windows, whose fetches are kept in the same
lake as they arrive (``lake_keep.LakeKeeper``).

Concurrency follows JV-Link's facts, not the seed's pool of five connections: one session per
JV-Link instance (the COM client's single thread and queue), identical requests coalesced by
the engine (and again by the COM client), and the cache keeping the upstream idle on repeats.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.domains.racing.catalogue import DATASPECS, DataSpec
from kasoku.domains.racing.clients.base import UpstreamClient
from kasoku.domains.racing.jobs import JobRunner
from kasoku.domains.racing.lake_keep import LakeKeeper
from kasoku.domains.racing.prefetch import Prefetcher
from kasoku.domains.racing.push import MIN_INTERVAL, OddsHub
from kasoku.domains.racing.replay_versions import ReplayVersions
from kasoku.domains.racing.routes import build_router, register_query_routes
from kasoku.domains.racing.source import RacingSource, dataset_name
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy
from kasoku.errors import ConfigError
from kasoku.lake.ducklake import Lake

log = logging.getLogger(__name__)

# A RACE fetch over weeks of data is tens of MB of parsed JSON + raw bytes; it is the one
# entry every page is cut from, so let it be cached (the L1 bound in bytes still rules).
MAX_ENTRY_BYTES = 48 * 1024 * 1024


# The original racing service gives odds one minute but names the wrong feeds (0B12/0B15, which are race info).
# The catalogue keeps the seed's values on the seed's names; the intent — live odds live one
# minute — is applied here to the real odds feeds (jvlink.md: 0B30-0B36).
ODDS_FEEDS = frozenset({"0B30", "0B31", "0B32", "0B33", "0B34", "0B35", "0B36"})
ODDS_TTL = 60.0


def policy_for(spec: DataSpec) -> Policy:
    """The original racing service's TTL per dataspec (L2), L1 capped at 5 minutes (its TTLCache); odds 1 min."""
    l1, l2 = (ODDS_TTL, ODDS_TTL) if spec.name in ODDS_FEEDS else (spec.ttl_l1, spec.ttl_l2)
    return Policy(ttl_l1=l1, ttl_l2=l2, stale_ttl=0.0, max_entry_bytes=MAX_ENTRY_BYTES)


def client_from_settings(settings: Settings, lake: Lake) -> UpstreamClient:
    """The configured upstream: the lake's raw records (``kasoku racing import``), or JV-Link over
    COM (Windows), whose fetches are imported into the same lake as they arrive."""
    if settings.racing.client == "com":
        from kasoku.domains.racing.clients.com import ComClient, JVLinkDispatch

        return ComClient(JVLinkDispatch(), sid=settings.racing.sid, max_fetch_bytes=settings.racing.max_fetch_bytes)
    from kasoku.domains.racing.clients.lake import LakeClient

    delay = settings.racing.upstream_delay_ms
    return LakeClient(lake, delay=(delay[0] / 1000, delay[1] / 1000) if delay else None,
                      max_fetch_bytes=settings.racing.max_fetch_bytes)


class RacingDomain:
    name = "racing"

    def __init__(self, settings: Settings, *, lake: Lake | None = None, client: UpstreamClient | None = None,
                 prefetch_concurrency: int = 2, prefetch_max_races: int = 12,
                 push_min_interval: float = MIN_INTERVAL) -> None:
        self.settings = settings
        self.lake = lake
        self._client = client
        self._prefetch_args = {"concurrency": prefetch_concurrency, "max_races": prefetch_max_races}
        self.source: RacingSource | None = None
        self.keeper: LakeKeeper | None = None
        self.versions: ReplayVersions | None = None
        self._prefetch: Prefetcher | None = None
        self._jobs: JobRunner | None = None
        self._push_min_interval = push_min_interval
        self._push: OddsHub | None = None

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            if self.lake is None:
                raise ConfigError("the racing domain needs the lake (or a client)")
            self._client = client_from_settings(self.settings, self.lake)
        return self._client

    @property
    def prefetch(self) -> Prefetcher:
        if self._prefetch is None:
            raise ConfigError("racing domain used before register()")
        return self._prefetch

    @property
    def jobs(self) -> JobRunner:
        if self._jobs is None:
            raise ConfigError("racing domain used before register()")
        return self._jobs

    @property
    def push(self) -> OddsHub:
        if self._push is None:
            raise ConfigError("racing domain used before register()")
        return self._push

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        if self.client.name == "com" and self.lake is not None:
            self.keeper = LakeKeeper(self.lake)  # what JV-Link delivers lands in the lake too
        self.source = RacingSource(self.client, engine, keep=self.keeper.keep if self.keeper is not None else None)
        for spec in DATASPECS.values():
            engine.register(Dataset(dataset_name(spec.name), policy_for(spec), self.source, rows_key="records"))
        if self.client.name == "lake" and self.lake is not None:
            # The replay is as fresh as the lake: an import drops its dataspecs' answers within a poll.
            self.versions = ReplayVersions(self.lake)
            for spec in DATASPECS.values():
                engine.follow(dataset_name(spec.name), self.versions, interval=settings.version_poll_interval)
        # JV-Link keeps realtime data one week; the lake keeps whatever was imported.
        realtime_days = 7 if self.client.name == "com" else None
        self._prefetch = Prefetcher(engine, **{"realtime_days": realtime_days, **self._prefetch_args})
        engine.on_result.append(self._prefetch.on_result)
        self._jobs = JobRunner(engine, per_owner=settings.limits.jobs_per_key)
        self._push = OddsHub(engine, min_interval=self._push_min_interval,
                             compress_min_bytes=settings.compress_min_bytes)
        app.include_router(build_router(self))
        register_query_routes(app)

    async def startup(self) -> None:
        log.info("racing domain serving from the %s client", self.client.name)

    async def shutdown(self) -> None:
        if self._push is not None:
            await self._push.close()
        if self.source is not None:
            self.source.close()
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
        if self.keeper is not None:
            await asyncio.to_thread(self.keeper.close)
        if self.versions is not None:
            await asyncio.to_thread(self.versions.close)

    async def health(self) -> dict[str, Any]:
        status = await asyncio.to_thread(self.client.status)
        return {"ok": not status.get("closed", False), "client": status}

    async def status(self) -> dict[str, Any]:
        return {"client": await asyncio.to_thread(self.client.status), "dataspecs": len(DATASPECS),
                "upstream_calls": self.source.upstream_calls if self.source else 0,
                "prefetch": self.prefetch.stats(), "jobs": self.jobs.stats(), "push": self.push.stats(),
                **({"kept_in_lake": self.keeper.stats()} if self.keeper is not None else {})}
