"""Data versions over a real Redis: an older answer never replaces a newer one in L2, a stale
L2 entry is refused by a worker's own book even when its invalidation never reached Redis,
and news of a version travels by pub/sub as a shortcut only."""

from __future__ import annotations

import asyncio

import pytest

from kasoku.engine.engine import Engine
from kasoku.engine.entry import Entry
from kasoku.engine.keys import query_key
from kasoku.engine import codec
from kasoku.engine.types import Lifetime, Policy, Query
from tests.fakes import Clock, FakeVersions, VersionedSource
from tests.services import RedisServer

from .conftest import Backend, EngineFactory, TierFactory

JAN, FEB = "month:2024-01", "month:2024-02"
POLICY = Policy(ttl_l1=3600, ttl_l2=3600)


def q(*tags: str) -> Query:
    return Query("d", "t", {"tags": list(tags)})


def value(served) -> int:  # type: ignore[no-untyped-def]
    return int(served.entry.table()["v"][0].as_py())


def stored_version(backend: Backend, key: str) -> int | None:
    client = backend.sync_client()
    try:
        raw = client.get(backend.entry_key(key))
    finally:
        client.close()
    return None if raw is None else codec.decode(raw).version


async def followed(make_engine: EngineFactory, versions: FakeVersions, source: VersionedSource, clock: Clock,
                   *, interval: float = 3600.0, **tier_options: float) -> Engine:
    engine = make_engine(source, clock=clock, policy=POLICY, **tier_options)  # type: ignore[arg-type]
    engine.follow("d", versions, interval=interval)
    await engine.versions.check("d")
    return engine


def entry(version: int | None, clock: Clock) -> Entry:
    import pyarrow as pa

    return Entry.from_table(pa.table({"v": [version or 0]}), meta={}, tags=frozenset({JAN}), source="raw",
                            rows_key="data", created_at=clock(), ttl=60, stale_ttl=0, version=version)


async def test_a_put_never_replaces_a_newer_version(make_tier: TierFactory, clock: Clock, l2_backend: Backend) -> None:
    tier = make_tier(clock=clock)
    life = Lifetime(60)
    assert await tier.write("k", entry(2, clock), life) is True
    assert await tier.write("k", entry(1, clock), life) is False  # late, older: refused
    assert await tier.write("k", entry(None, clock), life) is False  # unversioned over versioned: refused
    assert stored_version(l2_backend, "k") == 2
    assert await tier.write("k", entry(2, clock), life) is True  # the same version may refresh it
    assert await tier.write("k", entry(3, clock), life) is True
    assert stored_version(l2_backend, "k") == 3
    assert tier.metrics.redis_puts.labels("superseded")._value.get() == 2
    tier.discard("k", 2)  # found stale at 2, but 3 replaced it meanwhile: kept
    await tier.flush()
    assert stored_version(l2_backend, "k") == 3
    tier.discard("k", 3)
    await tier.flush()
    assert stored_version(l2_backend, "k") is None


async def test_a_slow_workers_late_put_does_not_win(make_engine: EngineFactory, clock: Clock,
                                                    l2_backend: Backend) -> None:
    """B computes from version 1; the data changes to 2; A (which knows) stores 2's answer;
    B's put arrives after it — and B does not know of version 2 yet (its version read is slow).
    B runs without the cross-worker lease (a lease is renewed while its run lasts, so A would
    otherwise wait for B), so A does not wait for B."""
    versions = FakeVersions()
    slow, fast = VersionedSource(versions, delay=0.3), VersionedSource(versions)
    a = await followed(make_engine, versions, fast, clock)
    b = await followed(make_engine, versions, slow, clock)
    b.single_flight = False
    running = asyncio.ensure_future(b.get(q(JAN)))
    await asyncio.sleep(0.05)  # B's source has read version 1
    versions.change({JAN})
    await a.check_versions("d")
    served = await a.get(q(JAN))
    assert value(served) == 2
    await a.l2.flush()  # type: ignore[union-attr]
    assert value(await running) == 1  # B's caller asked before the change
    await b.l2.flush()  # type: ignore[union-attr]
    assert stored_version(l2_backend, query_key(q(JAN))) == 2
    assert b.metrics.redis_puts.labels("superseded")._value.get() == 1


@pytest.mark.parametrize("l2_backend", ["valkey"], indirect=True)  # pauses the one server
async def test_a_stale_l2_entry_is_refused_when_the_invalidation_never_reached_redis(
        make_engine: EngineFactory, clock: Clock, l2_backend: Backend, redis_server: RedisServer) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions)
    a = await followed(make_engine, versions, source, clock)
    b = await followed(make_engine, versions, source, clock)
    await a.get(q(JAN))
    await a.l2.flush()  # type: ignore[union-attr]
    key = query_key(q(JAN))
    client = l2_backend.sync_client()
    raw = client.get(l2_backend.entry_key(key))
    assert raw is not None and codec.decode(raw).version == 1
    versions.change({JAN})
    redis_server.pause()
    try:
        assert await b.check_versions("d") is True  # learned; its L2 drop times out
    finally:
        redis_server.resume()
    client.set(l2_backend.entry_key(key), raw)  # as if the drop had been lost for good
    client.close()
    for _ in range(100):  # the breaker opened while Redis was stalled: wait for its probe
        served = await b.get(q(JAN))
        assert value(served) == 2
        if b.l2.breaker.state == "closed":  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.05)
    await b.l2.flush()  # type: ignore[union-attr]
    b.l1.clear()
    served = await b.get(q(JAN))
    assert (served.tier, value(served)) == ("source", 2)  # the version-1 entry in L2 was refused...
    await b.l2.flush()  # type: ignore[union-attr]
    assert stored_version(l2_backend, key) == 2  # ...and replaced


async def test_an_older_l2_entry_whose_tags_did_not_change_is_still_served(
        make_engine: EngineFactory, clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions)
    a = await followed(make_engine, versions, source, clock)
    await a.get(q(JAN))
    await a.get(q(FEB))
    await a.l2.flush()  # type: ignore[union-attr]
    versions.change({FEB})
    late = await followed(make_engine, versions, source, clock)  # a worker started at version 2
    jan = await late.get(q(JAN))
    assert (jan.tier, jan.entry.version) == ("l2", 1)  # it asked what changed since 1: not January
    feb = await late.get(q(FEB))
    assert (feb.tier, value(feb)) == ("source", 2)


async def test_news_of_a_version_makes_other_workers_check_at_once(make_engine: EngineFactory, clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions)
    a = await followed(make_engine, versions, source, clock)
    b = await followed(make_engine, versions, source, clock)  # polls once an hour: only the news can tell it
    for engine in (a, b):
        await engine.l2.start(engine.invalidate_local, engine.check_versions)  # type: ignore[union-attr]
        await asyncio.wait_for(engine.l2.subscribed.wait(), 5)  # type: ignore[union-attr]
    await b.get(q(JAN))
    versions.change({JAN})
    await a.check_versions("d")
    for _ in range(200):
        if b.versions.book("d").latest == 2:  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("b never heard of version 2")
    assert value(await b.get(q(JAN))) == 2
