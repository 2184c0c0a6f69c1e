"""A master of the Valkey Cluster fails over: the shared tier degrades, requests never fail.

Its own cluster (the session one is left intact): kill the master the URL names, keep asking
two workers for new and old keys while its replica is promoted, then check that L2, leases
and the invalidation broadcast work again on the new topology without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query
from tests.fakes import CountingSource
from tests.services import ValkeyCluster

from .conftest import Backend, tier_on


@pytest.fixture
def own_cluster() -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(masters=3, replicas=1, node_timeout_ms=1000)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


def worker(where: Backend, source: CountingSource) -> Engine:
    engine = Engine(l1_bytes=10**7)
    # A generous timeout: a killed node refuses at once, and a loaded CI box must not look like a failure.
    engine.l2 = tier_on(where, metrics=engine.metrics, timeout=1.0, failures=3, reset=0.2, lease=2.0)
    engine.register(Dataset("d", Policy(ttl_l1=60, ttl_l2=600), source))
    return engine


async def test_a_master_failing_over_is_a_degraded_tier_never_a_failed_request(own_cluster: ValkeyCluster) -> None:
    where = Backend(own_cluster.url, cluster=True)
    source = CountingSource()
    a, b = worker(where, source), worker(where, source)
    try:
        for engine in (a, b):
            await engine.l2.start(engine.invalidate_local)  # type: ignore[union-attr]
            await asyncio.wait_for(engine.l2.subscribed.wait(), 5)  # type: ignore[union-attr]
        for i in range(32):  # entries in every bucket, so on every master
            await a.get(Query("d", "t", {"n": i, "tags": ["old"]}))
        await a.l2.flush()  # type: ignore[union-attr]

        victim = own_cluster.ports[0]  # the master the URL names (and the listeners' first node)
        assert victim in own_cluster.master_ports()
        own_cluster.kill(victim)
        answered = 0
        deadline = time.monotonic() + 30
        n = 100
        while time.monotonic() < deadline:  # every request is answered while the replica takes over
            for engine in (a, b):
                served = await engine.get(Query("d", "t", {"n": n}))
                assert served.entry.rows == n
                n += 1
                answered += 1
            if answered >= 40 and _promoted(own_cluster, victim):
                break
            await asyncio.sleep(0.02)
        assert _promoted(own_cluster, victim), "the replica was not promoted in time"
        own_cluster.wait_ok(20)
        assert a.metrics.errors  # the tier noticed, counted, and degraded

        await asyncio.sleep(0.3)  # past the breaker's reset: the next call is its probe
        for engine in (a, b):
            await engine.get(Query("d", "t", {"n": 10_000}))  # probes close the breaker
        runs = source.runs
        fresh = [Query("d", "t", {"n": 20_000 + i, "tags": ["new"]}) for i in range(32)]
        for q in fresh:
            await a.get(q)
        await a.l2.flush()  # type: ignore[union-attr]
        from_l2 = [await b.get(q) for q in fresh]
        assert all(s.tier == "l2" for s in from_l2)  # every bucket is served again, on the new masters
        assert source.runs == runs + 32
        assert a.l2.breaker.state == "closed"  # type: ignore[union-attr]

        for engine in (a, b):  # the listeners came back (on another node when theirs died)
            await asyncio.wait_for(engine.l2.subscribed.wait(), 10)  # type: ignore[union-attr]
        removed = await a.invalidate(tags=["new"])
        assert removed["l2"] == 32
        for _ in range(200):
            if b.l1.count == 0 or all(b.l1.get(k) is None for k in _keys(fresh)):
                break
            await asyncio.sleep(0.02)
        assert all(b.l1.get(k) is None for k in _keys(fresh))  # the broadcast reached the other worker
    finally:
        await a.close()
        await b.close()


def _promoted(cluster: ValkeyCluster, victim: int) -> bool:
    masters = cluster.master_ports()
    return len(masters) == 3 and victim not in masters


def _keys(queries: list[Query]) -> list[str]:
    from kasoku.engine.keys import query_key

    return [query_key(q) for q in queries]
