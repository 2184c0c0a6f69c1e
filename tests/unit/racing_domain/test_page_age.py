"""A page is a view of a cached fetch: it must not outlive that fetch, and its Age is the fetch's.

Reproduced on main: a page cut at the end of its fetch's TTL lived a whole TTL more (twice
the odds minute) and said ``Age: 0``.
"""

from __future__ import annotations

from typing import Any

from kasoku.domains.racing.builder import build_win_odds
from kasoku.domains.racing.catalogue import get_dataspec
from kasoku.domains.racing.domain import policy_for
from kasoku.domains.racing.source import RacingSource, dataset_name, page_query
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset
from tests.fakes import Clock

RACE = "2024060105030101"


class OddsUpstream:
    name = "test"

    def __init__(self) -> None:
        self.calls = 0

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        raise AssertionError("odds are realtime")

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        self.calls += 1
        return [build_win_odds(RACE, {1: 2.5 + self.calls, 2: 4.0})]

    def status(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


async def test_a_page_cut_late_from_a_cached_fetch_expires_with_it() -> None:
    clock = Clock()
    engine = Engine(l1_bytes=10**7, clock=clock)
    upstream = OddsUpstream()
    source = RacingSource(upstream, engine)
    policy = policy_for(get_dataspec("0B31"))
    engine.register(Dataset(dataset_name("0B31"), policy, source, rows_key="records"))
    try:
        first = await engine.get(page_query("0B31", key=RACE))  # fetch + page, both at t0
        assert first.age(clock()) == 0
        clock.tick(policy.ttl_l1 - 5)
        late = await engine.get(page_query("0B31", key=RACE, offset=1))  # a new page from the cached fetch
        assert upstream.calls == 1
        assert late.age(clock()) == policy.ttl_l1 - 5  # the data is as old as its fetch
        assert late.entry.fresh_until == first.entry.fresh_until
        clock.tick(10)  # the fetch is past its TTL: so is every page cut from it
        again = await engine.get(page_query("0B31", key=RACE, offset=1))
        assert again.outcome == "miss" and upstream.calls == 2
        assert again.age(clock()) == 0
    finally:
        source.close()
        await engine.close()
