"""Cross-worker single-flight (one source run for 200 cold requests on two engines, lease
takeover after a crashed holder) and the circuit breaker around a Redis that dies and returns."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from kasoku.engine.keys import query_key
from kasoku.engine.types import Policy, Query
from tests.fakes import Clock, CountingSource
from tests.services import RedisServer

from .conftest import Backend, EngineFactory


async def test_200_cold_requests_over_two_workers_run_the_source_once(make_engine: EngineFactory) -> None:
    import time

    source = CountingSource(delay=0.05)
    a = make_engine(source, clock=time.time)
    b = make_engine(source, clock=time.time)
    q = Query("d", "t", {"n": 5})
    served = await asyncio.gather(*((a if i % 2 else b).get(q) for i in range(200)))
    assert source.runs == 1
    assert len({s.entry.payload for s in served}) == 1
    waiters = {e: e.metrics.waiters for e in (a, b)}
    assert sum(w["process"] for w in waiters.values()) == 198  # 99 in each worker
    assert sum(w["cluster"] for w in waiters.values()) == 1  # the other worker's leader waited on Redis


async def test_a_crashed_holders_lease_expires_and_a_waiter_takes_over(make_engine: EngineFactory,
                                                                       l2_backend: Backend) -> None:
    import time

    source = CountingSource()
    a = make_engine(source, clock=time.time, lease=0.3)
    q = Query("d", "t", {})
    client = l2_backend.client()
    try:
        # A "worker" took the lease and died without releasing it or writing a value.
        assert await client.set(a.l2.layout.lock(query_key(q)), "crashed-worker", nx=True, px=300)  # type: ignore[union-attr]
        started = time.monotonic()
        served = await a.get(q)
        waited = time.monotonic() - started
    finally:
        await client.aclose()
    assert served.outcome == "miss" and source.runs == 1
    assert a.metrics.lock_takeovers._value.get() == 1
    assert waited >= 0.2  # it did wait for the lease rather than run at once


async def test_the_holder_releases_only_its_own_lease(make_engine: EngineFactory, l2_backend: Backend) -> None:
    import time

    source = CountingSource()
    a = make_engine(source, clock=time.time)
    q = Query("d", "t", {})
    await a.get(q)
    await a.l2.flush()  # type: ignore[union-attr]
    client = l2_backend.client()
    try:
        assert await client.exists(a.l2.layout.lock(query_key(q))) == 0  # type: ignore[union-attr]
    finally:
        await client.aclose()


@pytest.mark.parametrize("l2_backend", ["valkey"], indirect=True)  # stops the one server
async def test_breaker_opens_when_redis_dies_and_closes_when_it_returns(make_engine: EngineFactory,
                                                                         redis_server: RedisServer) -> None:
    import time

    source = CountingSource()
    a = make_engine(source, clock=time.time, policy=Policy(ttl_l1=60, ttl_l2=60), reset=0.2)
    tier = a.l2
    await a.get(Query("d", "t", {"n": 0}))
    redis_server.stop()
    try:
        for i in range(1, 30):  # every request still answered, from the source
            served = await a.get(Query("d", "t", {"n": i}))
            assert served.outcome == "miss" and served.entry.rows == i
        assert tier.breaker.state == "open"  # type: ignore[union-attr]
        assert a.metrics.errors  # failures counted by op
        assert a.stats()["l2"]["breaker"] == "open"
        errors_when_open = sum(a.metrics.errors.values())
        for i in range(30, 40):
            await a.get(Query("d", "t", {"n": i}))
        assert sum(a.metrics.errors.values()) == errors_when_open  # open: Redis is not called at all
    finally:
        redis_server.start()
    await asyncio.sleep(0.25)
    q = Query("d", "t", {"n": 100})
    await a.get(q)  # the probe goes through and closes the breaker
    assert tier.breaker.state == "closed"  # type: ignore[union-attr]
    await tier.flush()  # type: ignore[union-attr]
    other = make_engine(source, clock=time.time)
    served = await other.get(q)
    assert served.tier == "l2"  # L2 in use again, no restart


BUSY = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > tonumber(ARGV[1]) then return 1 end
end
"""


@pytest.mark.parametrize("l2_backend", ["valkey"], indirect=True)  # blocks the one server
async def test_a_slow_redis_is_timed_out_then_skipped(make_engine: EngineFactory, redis_url: str) -> None:
    import time

    source = CountingSource()
    a = make_engine(source, clock=time.time, timeout=0.05, failures=2, reset=60)
    blocker = aioredis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        pause = asyncio.ensure_future(blocker.eval(BUSY, 0, 600_000))  # the server is busy for 0.6 s
        await asyncio.sleep(0.05)
        for i in range(10):
            served = await a.get(Query("d", "t", {"n": i}))
            assert served.outcome == "miss" and served.entry.rows == i
        await pause
    finally:
        await blocker.aclose()
    assert a.l2.breaker.state == "open"  # type: ignore[union-attr]
    assert sum(a.metrics.errors.values()) == 2  # two timeouts open the breaker; later calls skip Redis


async def test_without_single_flight_every_cold_request_runs_the_source(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource(delay=0.01)
    a = make_engine(source, clock=clock)
    a.single_flight = False
    await asyncio.gather(*(a.get(Query("d", "t", {})) for _ in range(20)))
    assert source.runs == 20


async def test_a_source_run_longer_than_the_lease_keeps_it(make_engine: EngineFactory) -> None:
    """The holder renews its lease while the source runs: a waiter on another worker must not
    take over a live run (reproduced on main: a 1.5 s run under a 0.5 s lease ran twice)."""
    import time

    source = CountingSource(delay=1.5)
    a = make_engine(source, clock=time.time, lease=0.5)
    b = make_engine(source, clock=time.time, lease=0.5)
    q = Query("d", "t", {"n": 2})
    first = asyncio.ensure_future(a.get(q))
    await asyncio.sleep(0.1)  # a holds the lease now
    served = await b.get(q)
    assert source.runs == 1
    assert served.entry.payload == (await first).entry.payload
    assert b.metrics.lock_takeovers._value.get() == 0
    assert b.metrics.waiters["cluster"] == 1
