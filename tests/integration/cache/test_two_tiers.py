"""Engines over a real Redis: promotion with the remaining TTL, stale-while-revalidate across
tiers, invalidation (tags, everything, broadcast to other workers' L1)."""

from __future__ import annotations

import asyncio

import pyarrow as pa

from kasoku.engine.entry import Entry
from kasoku.engine.types import Dataset, Lifetime, Policy, Query, Result
from tests.fakes import Clock, CountingSource

from .conftest import EngineFactory, TierFactory

RACE = Policy(ttl_l1=300, ttl_l2=86_400, stale_ttl=0)  # the original racing service: 5 min in memory, 24 h in Redis


async def settle(*engines: object) -> None:
    for engine in engines:
        await engine.l2.flush()  # type: ignore[attr-defined]


async def test_l2_hit_is_promoted_with_the_remaining_ttl(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource()
    a = make_engine(source, clock=clock, policy=RACE)
    b = make_engine(source, clock=clock, policy=RACE)
    q = Query("d", "race", {"n": 2})
    first = await a.get(q)
    await settle(a)
    clock.tick(3600)  # an hour later, a worker that never saw the key
    served = await b.get(q)
    assert (served.outcome, served.tier, source.runs) == ("hit", "l2", 1)
    assert served.entry.fresh_until == clock() + 300  # L1's own TTL from now ...
    assert (await b.get(q)).tier == "l1"
    clock.tick(86_400 - 3600 - 100)  # ... but never past the L2 deadline
    c = make_engine(source, clock=clock, policy=RACE)
    late = await c.get(q)
    assert late.tier == "l2" and late.entry.fresh_until == first.entry.created_at + 86_400
    clock.tick(101)
    assert (await c.get(q)).outcome == "miss" and source.runs == 2


async def test_stale_l2_entry_is_served_while_one_refresh_runs(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource(delay=0.01)
    policy = Policy(ttl_l1=10, ttl_l2=10, stale_ttl=100)
    a = make_engine(source, clock=clock, policy=policy)
    b = make_engine(source, clock=clock, policy=policy)
    q = Query("d", "t", {})
    await a.get(q)
    await settle(a)
    clock.tick(11)
    source.version = 1
    served = await asyncio.gather(*(b.get(q) for _ in range(20)))
    assert {s.outcome for s in served} == {"stale"}
    for _ in range(100):
        if source.runs == 2 and not b.flight.tasks():
            break
        await asyncio.sleep(0.01)
    await settle(b)
    assert source.runs == 2
    fresh = await a.get(q)  # a's L1 is stale too: it finds b's refresh in L2 instead of running the source
    assert fresh.outcome == "stale"
    await asyncio.sleep(0.05)
    assert source.runs == 2 and (await a.get(q)).entry.table()["v"][0].as_py() == 1
    clock.tick(200)
    assert (await b.get(q)).outcome == "miss"


async def test_tag_invalidation_reaches_l2_and_other_workers_l1(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource()
    a = make_engine(source, clock=clock)
    b = make_engine(source, clock=clock)
    for engine in (a, b):
        await engine.l2.start(engine.invalidate_local)  # type: ignore[union-attr]
        await asyncio.wait_for(engine.l2.subscribed.wait(), 5)  # type: ignore[union-attr]
    jan, feb = Query("d", "t", {"tags": ["month:2024-01"]}), Query("d", "t", {"tags": ["month:2024-02"]})
    await a.get(jan)
    await a.get(feb)
    await settle(a)
    assert (await b.get(jan)).tier == "l2" and (await b.get(feb)).tier == "l2"  # now in b's L1 too
    removed = await a.invalidate(tags=["month:2024-01"])
    assert removed == {"l1": 1, "l2": 1}
    for _ in range(200):
        if b.l1.entries == 1:
            break
        await asyncio.sleep(0.01)
    assert b.l1.entries == 1
    assert (await b.get(feb)).tier == "l1"
    runs = source.runs
    assert (await b.get(jan)).outcome == "miss" and source.runs == runs + 1
    assert a.metrics.broadcasts.labels("sent")._value.get() == 1
    assert b.metrics.broadcasts.labels("received")._value.get() == 1
    assert a.metrics.broadcasts.labels("received")._value.get() == 0  # its own message is skipped


async def test_everything_bumps_the_generation_without_scanning(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource()
    a = make_engine(source, clock=clock)
    b = make_engine(source, clock=clock)
    await a.get(Query("d", "t", {"n": 1}))
    await a.get(Query("d", "t", {"n": 2}))
    await settle(a)
    await a.invalidate()
    assert a.l1.entries == 0
    assert (await b.get(Query("d", "t", {"n": 1}))).outcome == "miss"
    assert source.runs == 3


async def test_writes_are_queued_bounded_and_dropped_when_full(make_tier: TierFactory, clock: Clock) -> None:
    tier = make_tier(clock=clock, queue_size=2)
    entry = Entry.from_table(pa.table({"v": [1]}), meta={}, tags=frozenset(), source="raw", rows_key="data",
                             created_at=clock(), ttl=60, stale_ttl=0)
    for i in range(10):  # no await in between: the writer has not run yet
        tier.put(f"d:q:{i}", entry, Lifetime(60))
    assert tier.metrics.redis_puts.labels("dropped")._value.get() == 8
    await tier.flush()
    assert tier.metrics.redis_puts.labels("written")._value.get() == 2
    assert await tier.get("d:q:0") is not None and await tier.get("d:q:9") is None


async def test_oversized_entries_are_not_cached_in_either_tier(make_engine: EngineFactory, clock: Clock) -> None:
    source = CountingSource()
    a = make_engine(source, clock=clock, policy=Policy(ttl_l1=60, ttl_l2=60, max_entry_bytes=10))
    served = await a.get(Query("d", "t", {}))
    await settle(a)
    assert a.l1.entries == 0 and await a.l2.get(served.key) is None  # type: ignore[union-attr]
    assert (await a.get(Query("d", "t", {}))).outcome == "miss"


class ViewSource:
    """Answers from data made ``age`` seconds ago (a view cut from a cached answer)."""

    def __init__(self, clock: Clock, age: float) -> None:
        self.clock, self.age = clock, age

    async def run(self, query: Query) -> Result:
        return Result(table=pa.table({"v": [1]}), generated_at=self.clock() - self.age)


async def test_an_answer_from_older_data_lives_as_long_as_that_data_in_the_tiers(make_engine: EngineFactory,
                                                                                 clock: Clock) -> None:
    """RACE-like policy (5 min in memory, 24 h in Redis): a view of an hour-old fetch promoted
    from L2 is as old as it (Age), fresh for L1's TTL from now, and in L2 until the fetch's end."""
    engine = make_engine(CountingSource(), clock=clock, policy=Policy(ttl_l1=300, ttl_l2=86400))
    engine.register(Dataset("v", Policy(ttl_l1=300, ttl_l2=86400), ViewSource(clock, age=3600)))
    served = await engine.get(Query("v", "page", {}))
    assert served.age(clock()) == 3600
    assert served.entry.fresh_until == clock() + 300  # not born stale
    await engine.l2.flush()  # type: ignore[union-attr]
    in_l2 = await engine.l2.get(served.key)  # type: ignore[union-attr]
    assert in_l2 is not None and in_l2.fresh_until == served.entry.created_at + 86400
