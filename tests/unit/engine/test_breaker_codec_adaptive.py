import pyarrow as pa
import pytest

from kasoku.api.bodies import body_of
from kasoku.engine import codec
from kasoku.engine.adaptive import AdaptiveTTL
from kasoku.engine.breaker import Breaker
from kasoku.engine.entry import Entry
from kasoku.engine.types import Policy

from .conftest import Clock


def test_breaker_opens_after_failures_probes_once_and_closes(clock: Clock) -> None:
    states: list[str] = []
    breaker = Breaker(failures=3, reset=5, clock=clock, on_change=states.append)
    for _ in range(2):
        breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.tick(5)
    assert breaker.allow() and breaker.state == "half_open"
    assert not breaker.allow()  # only one probe at a time
    breaker.failure()  # the probe failed: open again, for another full reset period
    assert breaker.state == "open" and not breaker.allow()
    clock.tick(5)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
    assert states == ["open", "half_open", "open", "half_open", "closed"]


def test_breaker_lets_a_new_probe_through_when_the_last_never_reported(clock: Clock) -> None:
    breaker = Breaker(failures=1, reset=1, clock=clock)
    breaker.failure()
    clock.tick(1)
    assert breaker.allow()
    clock.tick(1)
    assert breaker.allow()


def _entry() -> Entry:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    return Entry.from_table(table, meta={"total": 3, "nested": {"k": [1, 2]}}, tags=frozenset({"dataset:d", "month:2024-01"}),
                            source="rollup", rows_key="rows", created_at=100.0, ttl=10, stale_ttl=5)


def test_codec_round_trip_keeps_everything_but_the_memoised_bodies() -> None:
    entry = _entry()
    body_of(entry, "json", "identity")
    back = codec.decode(codec.encode(entry, fresh_until=200.0, hard_until=250.0))
    assert back.payload == entry.payload and back.table().equals(entry.table())
    assert (back.meta, back.tags, back.source, back.rows_key, back.rows) == (entry.meta, entry.tags, "rollup", "rows", 3)
    assert (back.created_at, back.fresh_until, back.hard_until) == (100.0, 200.0, 250.0)
    assert back.bodies == {}
    assert body_of(back, "json", "identity").content == body_of(entry, "json", "identity").content


@pytest.mark.parametrize("data", [b"", b"KSKE", b"PK\x03\x04" + bytes(20), b"x" * 100])
def test_codec_rejects_foreign_or_truncated_values(data: bytes) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode(data)


def test_codec_rejects_a_truncated_entry_and_another_version() -> None:
    data = codec.encode(_entry())
    with pytest.raises(codec.CodecError):
        codec.decode(data[:-1])
    with pytest.raises(codec.CodecError):
        codec.decode(data[:4] + bytes([codec.VERSION + 1]) + data[5:])


def test_adaptive_ttl_grows_for_hot_unchanged_answers_and_resets_on_change() -> None:
    policy = Policy(adaptive=True, adaptive_max_factor=4, adaptive_min_reads=2)
    ttl = AdaptiveTTL()
    assert ttl.refreshed("d:q:1", b"same", policy) == 1.0
    ttl.read("d:q:1")
    assert ttl.refreshed("d:q:1", b"same", policy) == 1.0  # read once only: not hot enough
    for _ in range(2):
        ttl.read("d:q:1")
    assert ttl.refreshed("d:q:1", b"same", policy) == 2.0
    for _ in range(2):
        ttl.read("d:q:1")
    assert ttl.refreshed("d:q:1", b"same", policy) == 4.0
    for _ in range(2):
        ttl.read("d:q:1")
    assert ttl.refreshed("d:q:1", b"same", policy) == 4.0  # bounded
    assert ttl.chosen({"d": policy})["d:q:1"]["ttl_l1"] == policy.ttl_l1 * 4
    assert ttl.refreshed("d:q:1", b"changed", policy) == 1.0
    assert ttl.refreshed("d:q:2", b"x", Policy(adaptive=False)) == 1.0


async def test_engine_adaptive_dataset_lengthens_ttl(clock: Clock) -> None:
    from kasoku.engine.engine import Engine
    from kasoku.engine.types import Dataset, Query

    from .conftest import CountingSource

    engine = Engine(l1_bytes=10**7, clock=clock)
    engine.register(Dataset("d", Policy(ttl_l1=10, ttl_l2=10, adaptive=True, adaptive_min_reads=1), CountingSource()))
    q = Query("d", "t", {})
    first = await engine.get(q)
    await engine.get(q)
    clock.tick(11)
    second = await engine.get(q)
    assert second.outcome == "miss" and second.entry.fresh_until - second.entry.created_at == 20
    assert engine.stats()["adaptive_ttls"][first.key]["ttl_l1"] == 20
