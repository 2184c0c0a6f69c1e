import asyncio

import orjson
import pyarrow as pa
import pytest

from kasoku.api.bodies import body_of
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query
from kasoku.errors import NotFound

from .conftest import CountingSource


def make_engine(clock, source, policy=Policy(ttl_l1=60, ttl_l2=60, stale_ttl=0)) -> Engine:
    engine = Engine(l1_bytes=10**7, clock=clock)
    engine.register(Dataset("d", policy, source))
    return engine


async def test_miss_then_hit_returns_the_same_bytes(clock) -> None:
    source = CountingSource()
    engine = make_engine(clock, source)
    first = await engine.get(Query("d", "t", {"n": 4}))
    body1 = body_of(first.entry, "json", "identity").content
    second = await engine.get(Query("d", "t", {"n": 4}))
    assert (first.outcome, second.outcome) == ("miss", "hit")
    assert body_of(second.entry, "json", "identity").content is body1
    assert orjson.loads(body1) == {"n": 4, "data": [{"i": i, "v": 0, "name": f"row{i}"} for i in range(4)]}
    assert source.runs == 1


async def test_ttl_expiry_makes_a_miss(clock) -> None:
    source = CountingSource()
    engine = make_engine(clock, source)
    await engine.get(Query("d", "t", {}))
    clock.tick(61)
    assert (await engine.get(Query("d", "t", {}))).outcome == "miss"
    assert source.runs == 2


async def test_concurrent_misses_run_the_source_once(clock) -> None:
    source = CountingSource(delay=0.05)
    engine = make_engine(clock, source)
    results = await asyncio.gather(*(engine.get(Query("d", "t", {"n": 2})) for _ in range(200)))
    assert source.runs == 1
    assert {r.entry.payload for r in results} == {results[0].entry.payload}
    assert engine.flight.coalesced == 199


async def test_stale_entry_served_while_one_refresh_runs(clock) -> None:
    source = CountingSource(delay=0.01)
    engine = make_engine(clock, source, Policy(ttl_l1=10, ttl_l2=10, stale_ttl=100))
    await engine.get(Query("d", "t", {}))
    clock.tick(11)
    source.version = 1
    stale = await asyncio.gather(*(engine.get(Query("d", "t", {})) for _ in range(20)))
    assert {s.outcome for s in stale} == {"stale"}
    await asyncio.sleep(0.05)
    assert source.runs == 2  # exactly one background refresh
    fresh = await engine.get(Query("d", "t", {}))
    assert fresh.outcome == "hit" and fresh.entry.table()["v"][0].as_py() == 1
    clock.tick(200)
    assert (await engine.get(Query("d", "t", {}))).outcome == "miss"


async def test_errors_are_not_cached(clock) -> None:
    source = CountingSource(fail=RuntimeError("boom"))
    engine = make_engine(clock, source)
    with pytest.raises(RuntimeError):
        await engine.get(Query("d", "t", {}))
    source.fail = None
    assert (await engine.get(Query("d", "t", {}))).outcome == "miss"


async def test_scoped_invalidation(clock) -> None:
    source = CountingSource()
    engine = make_engine(clock, source)
    await engine.get(Query("d", "t", {"tags": ["month:2024-01"]}))
    await engine.get(Query("d", "t", {"tags": ["month:2024-02"]}))
    removed = await engine.invalidate(tags=["month:2024-01"])
    assert removed["l1"] == 1
    assert (await engine.get(Query("d", "t", {"tags": ["month:2024-02"]}))).outcome == "hit"
    assert (await engine.get(Query("d", "t", {"tags": ["month:2024-01"]}))).outcome == "miss"
    await engine.invalidate(dataset="d")
    assert engine.l1.entries == 0


async def test_unknown_dataset_is_not_found(clock) -> None:
    engine = make_engine(clock, CountingSource())
    with pytest.raises(NotFound):
        await engine.get(Query("nope", "t", {}))


async def test_policy_overrides_from_settings(clock) -> None:
    engine = Engine(l1_bytes=10**6, clock=clock, overrides={"d": {"ttl_l1": 5.0, "ttl_l2": None}})
    engine.register(Dataset("d", Policy(ttl_l1=60, ttl_l2=70), CountingSource()))
    assert engine.dataset("d").policy.ttl_l1 == 5.0 and engine.dataset("d").policy.ttl_l2 == 70


async def test_entries_hold_only_the_bytes_they_are_charged_for(clock) -> None:
    engine = make_engine(clock, CountingSource())
    served = await engine.get(Query("d", "t", {"n": 100}))
    assert not any(isinstance(v, pa.Table) for v in (getattr(served.entry, f) for f in served.entry.__slots__))
    assert served.entry.table().num_rows == 100  # read from the payload when needed
    assert body_of(served.entry, "csv", "identity").content.startswith(b'"i"')


async def test_background_refresh_failure_is_logged_and_stale_keeps_serving(clock, caplog) -> None:
    source = CountingSource()
    engine = make_engine(clock, source, Policy(ttl_l1=10, ttl_l2=10, stale_ttl=100))
    await engine.get(Query("d", "t", {}))
    clock.tick(11)
    source.fail = RuntimeError("upstream down")
    assert (await engine.get(Query("d", "t", {}))).outcome == "stale"
    await asyncio.sleep(0.01)
    assert "background refresh failed" in caplog.text
    assert (await engine.get(Query("d", "t", {}))).outcome == "stale"


async def test_streams_go_through_the_datasets_streaming_capability(clock) -> None:
    async def rows(query: Query):  # type: ignore[no-untyped-def]
        for i in range(int(query.params["n"])):
            yield pa.record_batch({"i": [i]})

    engine = Engine(l1_bytes=10**6, clock=clock)
    engine.register(Dataset("s", Policy(), CountingSource(), stream=rows))
    engine.register(Dataset("d", Policy(), CountingSource()))
    assert [b["i"][0].as_py() async for b in engine.stream(Query("s", "rows", {"n": 3}))] == [0, 1, 2]
    with pytest.raises(NotFound):
        engine.stream(Query("d", "rows", {}))


class _OldData:
    """A view of data made ``age`` seconds before the engine's now."""

    def __init__(self, clock, age: float) -> None:  # type: ignore[no-untyped-def]
        self.clock, self.age = clock, age

    async def run(self, query: Query):  # type: ignore[no-untyped-def]
        from kasoku.engine.types import Result

        return Result(table=pa.table({"v": [1]}), generated_at=self.clock() - self.age)


async def test_an_answer_is_as_old_as_its_data_and_expires_with_it(clock) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(l1_bytes=10**6, clock=clock)
    engine.register(Dataset("v", Policy(ttl_l1=60, ttl_l2=60), _OldData(clock, age=50)))
    served = await engine.get(Query("v", "page", {}))
    assert served.age(clock()) == 50 and served.entry.fresh_until == clock() + 10
    clock.tick(11)
    assert (await engine.get(Query("v", "page", {}))).outcome == "miss"  # gone with its data, not a TTL later
