import pyarrow as pa

from kasoku.api.bodies import body_of
from kasoku.engine.entry import Entry
from kasoku.engine.memory import MemoryTier


def make_entry(clock, n: int = 10, ttl: float = 60, tags=frozenset()) -> Entry:
    table = pa.table({"x": list(range(n))})
    return Entry.from_table(table, meta={}, tags=frozenset(tags), source="raw", rows_key="data",
                            created_at=clock(), ttl=ttl, stale_ttl=0)


def test_bounded_in_bytes_evicts_least_recently_used(clock) -> None:
    one = make_entry(clock, 1000)
    tier = MemoryTier(one.nbytes * 3 + 10, clock=clock)
    for key in "abc":
        tier.set(key, make_entry(clock, 1000))
    tier.get("a")  # a is now most recent
    tier.set("d", make_entry(clock, 1000))
    assert tier.get("b") is None
    assert tier.get("a") is not None and tier.get("d") is not None
    assert tier.bytes <= tier.max_bytes


def test_entry_too_large_is_not_stored(clock) -> None:
    tier = MemoryTier(500, clock=clock)
    assert tier.set("big", make_entry(clock, 10_000)) is False
    assert tier.get("big") is None


def test_expires_at_hard_deadline(clock) -> None:
    tier = MemoryTier(10**6, clock=clock)
    tier.set("k", make_entry(clock, ttl=30))
    clock.tick(29)
    assert tier.get("k") is not None
    clock.tick(2)
    assert tier.get("k") is None


def test_tag_invalidation_drops_only_tagged(clock) -> None:
    tier = MemoryTier(10**6, clock=clock)
    tier.set("a", make_entry(clock, tags={"month:2024-01"}))
    tier.set("b", make_entry(clock, tags={"month:2024-02"}))
    assert tier.invalidate_tags(["month:2024-01"]) == 1
    assert tier.get("a") is None and tier.get("b") is not None


def test_new_bodies_are_charged(clock) -> None:
    tier = MemoryTier(10**6, clock=clock)
    entry = make_entry(clock, 2000)
    tier.set("k", entry)
    before = tier.bytes
    body_of(entry, "json", "identity")
    tier.set("k", entry)
    assert tier.bytes > before


def test_tag_index_stays_bounded_under_eviction(clock) -> None:
    one = make_entry(clock, 100, tags={"dataset:x"})
    tier = MemoryTier(one.nbytes * 5, clock=clock)
    for i in range(5000):
        tier.set(f"k{i}", make_entry(clock, 100, tags={"dataset:x"}))
    indexed = sum(len(keys) for keys in tier._by_tag.values())
    assert tier.entries <= 5 and indexed <= 4 * tier.entries + 1024
    cached = tier.entries
    assert tier.invalidate_tags(["dataset:x"]) == cached and tier.entries == 0
