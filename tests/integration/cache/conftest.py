"""Factories for engines and Redis tiers on the real servers started by ``tests/conftest.py``.

Every test here runs twice (STYLE #14: one contract, every implementation): on one Valkey
server (``valkey``) and on a 3-master + 3-replica Valkey Cluster (``cluster``). A test that
only makes sense on one server (it stops or blocks that server) pins ``l2_backend`` to
``valkey`` with ``@pytest.mark.parametrize("l2_backend", ["valkey"], indirect=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from kasoku.engine.constants import CLUSTER_BUCKETS, KeyLayout
from kasoku.engine.engine import Engine
from kasoku.engine.metrics import Metrics
from kasoku.engine.redis_tier import RedisTier
from kasoku.engine.types import Dataset, Policy
from tests.fakes import Clock, CountingSource

TierFactory = Callable[..., RedisTier]
EngineFactory = Callable[..., Engine]


@dataclass(frozen=True)
class Backend:
    """Where this test's shared tier lives: a URL and whether it names a cluster node."""

    url: str
    cluster: bool

    def client(self) -> aioredis.Redis | aioredis.RedisCluster:
        """A plain client on the same data (to plant or inspect keys as another worker would)."""
        if self.cluster:
            return aioredis.RedisCluster.from_url(self.url)
        return aioredis.Redis.from_url(self.url)

    def sync_client(self) -> redis.Redis | redis.RedisCluster:
        return redis.RedisCluster.from_url(self.url) if self.cluster else redis.Redis.from_url(self.url)

    @property
    def layout(self) -> KeyLayout:
        return KeyLayout(CLUSTER_BUCKETS if self.cluster else 1)

    def entry_key(self, key: str, generation: int = 0) -> str:
        """Where a tier on this backend stores the entry of a query key."""
        return f"{self.layout.entries(self.layout.bucket(key))}{generation}:{key}"


BACKENDS = ["valkey", "cluster"]


def backend(request: pytest.FixtureRequest, name: str) -> Backend:
    """A clean backend of that name: a db of its own on the server, or the emptied cluster."""
    if name == "valkey":
        return Backend(request.getfixturevalue("redis_url"), cluster=False)
    cluster = request.getfixturevalue("valkey_cluster")
    cluster.flushall()  # our own cluster, started for these tests
    return Backend(cluster.url, cluster=True)


@pytest.fixture(params=BACKENDS)
def l2_backend(request: pytest.FixtureRequest) -> Backend:
    return backend(request, request.param)


def tier_on(where: Backend, *, metrics: Metrics | None = None, clock: Callable[[], float] | None = None,
            **options: Any) -> RedisTier:
    """A RedisTier with the test settings (short timeouts and breaker reset)."""
    # 0.5 s (4 s on a cluster, whose tag drops fan out over 16 buckets and whose first call
    # learns the topology; its six processes share the CI box's two cores with the whole suite,
    # and a timed-out call can make redis-py's cluster client fail the next one on the dropped
    # connection): generous enough that a loaded CI box is not a Redis failure (timeout tests
    # pass their own).
    settings: dict[str, Any] = {"timeout": 4.0 if where.cluster else 0.5, "lease": 5.0, "failures": 2, "reset": 0.2,
                                **options}
    extra = {"clock": clock} if clock is not None else {}
    return RedisTier.from_url(where.url, metrics=metrics or Metrics(), cluster=where.cluster, **settings, **extra)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_tier(l2_backend: Backend) -> AsyncIterator[TierFactory]:
    """RedisTier instances on this test's backend, closed at the end (breaker reset short for tests)."""
    made: list[RedisTier] = []

    def make(**options: Any) -> RedisTier:
        tier = tier_on(l2_backend, **options)
        made.append(tier)
        return tier

    yield make
    for tier in made:
        await tier.close()


@pytest.fixture
async def make_engine(make_tier: TierFactory) -> AsyncIterator[EngineFactory]:
    """Engines sharing one Redis db or cluster (as workers would), each with its own L1 and metrics."""
    made: list[Engine] = []

    def make(source: CountingSource, *, clock: Callable[[], float], policy: Policy | None = None,
             start: bool = False, **tier_options: Any) -> Engine:
        engine = Engine(l1_bytes=10**7, clock=clock)
        engine.l2 = make_tier(metrics=engine.metrics, clock=clock, **tier_options)
        engine.register(Dataset("d", policy or Policy(ttl_l1=60, ttl_l2=600, stale_ttl=0), source))
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()
