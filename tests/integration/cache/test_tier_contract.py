"""One contract, two tiers (STYLE #14): what L1 and L2 both promise about storing entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pyarrow as pa
import pytest

from kasoku.engine.entry import Entry
from kasoku.engine.memory import MemoryTier
from kasoku.engine.redis_tier import RedisTier
from kasoku.engine.types import Lifetime
from tests.fakes import Clock

from .conftest import BACKENDS, backend, tier_on


class TierUnderTest(Protocol):
    async def put(self, key: str, entry: Entry) -> None: ...
    async def get(self, key: str) -> Entry | None: ...
    async def drop_tags(self, tags: list[str]) -> None: ...
    async def clear(self) -> None: ...


class L1:
    def __init__(self, clock: Clock) -> None:
        self.tier = MemoryTier(10**7, clock=clock)

    async def put(self, key: str, entry: Entry) -> None:
        self.tier.set(key, entry)

    async def get(self, key: str) -> Entry | None:
        return self.tier.get(key)

    async def drop_tags(self, tags: list[str]) -> None:
        self.tier.invalidate_tags(tags)

    async def clear(self) -> None:
        self.tier.clear()


class L2:
    def __init__(self, tier: RedisTier) -> None:
        self.tier = tier

    async def put(self, key: str, entry: Entry) -> None:
        life = Lifetime(entry.fresh_until - entry.created_at, entry.hard_until - entry.fresh_until)
        assert await self.tier.write(key, entry, life)

    async def get(self, key: str) -> Entry | None:
        return await self.tier.get(key)

    async def drop_tags(self, tags: list[str]) -> None:
        await self.tier.invalidate(tags=tags)

    async def clear(self) -> None:
        await self.tier.invalidate(everything=True)


@pytest.fixture(params=["l1", *(f"l2-{name}" for name in BACKENDS)])
async def tier(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[TierUnderTest]:
    """The memory tier, and the Redis tier on one Valkey server and on a Valkey Cluster."""
    if request.param == "l1":
        yield L1(clock)
        return
    l2 = tier_on(backend(request, request.param.removeprefix("l2-")), clock=clock)
    try:
        yield L2(l2)
    finally:
        await l2.close()


def entry(clock: Clock, *tags: str, value: int = 1, ttl: float = 60, stale: float = 30) -> Entry:
    return Entry.from_table(pa.table({"v": [value]}), meta={"value": value}, tags=frozenset(tags), source="raw",
                            rows_key="data", created_at=clock(), ttl=ttl, stale_ttl=stale)


async def test_round_trip_keeps_payload_meta_tags_and_deadlines(tier: TierUnderTest, clock: Clock) -> None:
    stored = entry(clock, "dataset:d", "month:2024-01")
    await tier.put("d:q:1", stored)
    got = await tier.get("d:q:1")
    assert got is not None
    assert (got.payload, got.meta, got.tags) == (stored.payload, stored.meta, stored.tags)
    assert (got.created_at, got.fresh_until, got.hard_until) == (stored.created_at, stored.fresh_until, stored.hard_until)


async def test_unknown_key_is_a_miss(tier: TierUnderTest) -> None:
    assert await tier.get("d:q:nothing") is None


async def test_an_entry_is_gone_after_its_hard_deadline(tier: TierUnderTest, clock: Clock) -> None:
    await tier.put("d:q:1", entry(clock, ttl=10, stale=5))
    clock.tick(12)
    assert await tier.get("d:q:1") is not None  # stale but still there
    clock.tick(4)
    assert await tier.get("d:q:1") is None


async def test_overwrite_replaces(tier: TierUnderTest, clock: Clock) -> None:
    await tier.put("d:q:1", entry(clock, value=1))
    await tier.put("d:q:1", entry(clock, value=2))
    got = await tier.get("d:q:1")
    assert got is not None and got.meta == {"value": 2}


async def test_tag_invalidation_drops_only_tagged_entries(tier: TierUnderTest, clock: Clock) -> None:
    await tier.put("d:q:jan", entry(clock, "dataset:d", "month:2024-01"))
    await tier.put("d:q:feb", entry(clock, "dataset:d", "month:2024-02"))
    await tier.put("e:q:jan", entry(clock, "dataset:e", "month:2024-01"))
    await tier.drop_tags(["month:2024-01"])
    assert await tier.get("d:q:jan") is None and await tier.get("e:q:jan") is None
    assert await tier.get("d:q:feb") is not None


async def test_clear_drops_everything(tier: TierUnderTest, clock: Clock) -> None:
    await tier.put("d:q:1", entry(clock, "dataset:d"))
    await tier.put("e:q:1", entry(clock))
    await tier.clear()
    assert await tier.get("d:q:1") is None and await tier.get("e:q:1") is None


async def test_invalidation_reaches_every_key_wherever_it_lives(tier: TierUnderTest, clock: Clock) -> None:
    """Many keys (on a cluster: every bucket, every master): tags and "everything" reach them all."""
    keys = [f"d:q:{i}" for i in range(48)]
    for i, key in enumerate(keys):
        await tier.put(key, entry(clock, "dataset:d", f"parity:{i % 2}", value=i))
    await tier.drop_tags(["parity:0"])
    assert [await tier.get(k) is None for k in keys] == [i % 2 == 0 for i in range(48)]
    await tier.clear()
    assert all([await tier.get(k) is None for k in keys])
