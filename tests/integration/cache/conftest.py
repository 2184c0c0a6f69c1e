"""Factories for engines and Redis tiers on the real server started by ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kasoku.engine.engine import Engine
from kasoku.engine.metrics import Metrics
from kasoku.engine.redis_tier import RedisTier
from kasoku.engine.types import Dataset, Policy
from tests.fakes import Clock, CountingSource

TierFactory = Callable[..., RedisTier]
EngineFactory = Callable[..., Engine]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_tier(redis_url: str) -> AsyncIterator[TierFactory]:
    """RedisTier instances on this test's db, closed at the end (breaker reset short for tests)."""
    made: list[RedisTier] = []

    def make(*, metrics: Metrics | None = None, clock: Callable[[], float] | None = None, **options: Any) -> RedisTier:
        settings: dict[str, Any] = {"timeout": 0.2, "lease": 5.0, "failures": 2, "reset": 0.2, **options}
        extra = {"clock": clock} if clock is not None else {}
        tier = RedisTier.from_url(redis_url, metrics=metrics or Metrics(), **settings, **extra)
        made.append(tier)
        return tier

    yield make
    for tier in made:
        await tier.close()


@pytest.fixture
async def make_engine(make_tier: TierFactory) -> AsyncIterator[EngineFactory]:
    """Engines sharing one Redis db (as workers would), each with its own L1 and metrics."""
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
