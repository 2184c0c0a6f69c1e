"""Prefetch rules: after a RACE read, warm each race's realtime race info and odds.

The original racing service prefetches "0B12/0B15" after RACE and calls them odds; per jvlink.md 0B12/0B15
are realtime *race info* (RA SE HR) and the odds feeds are 0B31 (win/place/bracket, O1) and
0B32 (quinella, O2). So a RACE fetch warms, per race key in its result, the four pages a
client is likely to ask next: 0B12, 0B15, 0B31, 0B32 — the very Queries the realtime routes
build, so the first odds request is an L1 hit.

Bounded and never in the way: the rule runs as an ``Engine.on_result`` hook (only when a
RACE fetch was actually computed, not on every hit), schedules background tasks via
``Engine.spawn`` and returns at once; a semaphore bounds concurrent warms (JV-Link is one
session anyway) and ``max_races`` caps how many races one read may warm (the newest race
days first: realtime data is kept one week). Keys already fresh in L1, or already being
warmed, are skipped. Metrics: ``kasoku_prefetch{dataset, outcome}`` with started / done /
failed, and ``hit`` when a later request is served from a prefetched entry (counted once).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from kasoku.domains.racing.source import FETCH, dataset_name, page_query
from kasoku.engine.keys import query_key
from kasoku.engine.types import Query, Result

if TYPE_CHECKING:
    from kasoku.engine.engine import Engine

log = logging.getLogger(__name__)

def _today_jst() -> str:
    """JV-Link's calendar is Japan's (UTC+9)."""
    return (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=9)).strftime("%Y%m%d")


def _days_before(day: str, days: int) -> str:
    return (_dt.datetime.strptime(day, "%Y%m%d") - _dt.timedelta(days=days)).strftime("%Y%m%d")


TRIGGER = "RACE"
WARM_SPECS = ("0B12", "0B15", "0B31", "0B32")


class Prefetcher:
    def __init__(self, engine: "Engine", *, concurrency: int = 2, max_races: int = 12,
                 remember: int = 10_000, specs: tuple[str, ...] = WARM_SPECS,
                 realtime_days: int | None = None, today: Callable[[], str] | None = None) -> None:
        """``realtime_days``: how long the upstream keeps realtime data (JV-Link: one week);
        races older than that are not warmed, since the upstream can only answer -1 for them."""
        self.engine = engine
        self.realtime_days = realtime_days
        self._today = today or _today_jst
        self.specs = specs
        self.max_races = max_races
        self.remember = remember
        self._slots: asyncio.Semaphore | None = None
        self._concurrency = concurrency
        self._pending: set[str] = set()
        self._warmed: OrderedDict[str, str] = OrderedDict()  # key -> dataset, awaiting its first hit
        self.tally = {"started": 0, "done": 0, "failed": 0, "hit": 0, "skipped": 0}

    def on_result(self, query: Query, result: Result) -> None:
        """Engine hook: schedule warms for the races in a freshly computed RACE fetch."""
        if query.dataset != dataset_name(TRIGGER) or query.name != FETCH or result.table.num_rows == 0:
            return
        keys = pc.unique(result.table.column("race_id").drop_null()).to_pylist()
        if self.realtime_days is not None:
            oldest = _days_before(self._today(), self.realtime_days)
            keys = [k for k in keys if k[:8] >= oldest]
        for race_key in sorted(keys, reverse=True)[: self.max_races]:
            for spec in self.specs:
                self._schedule(page_query(spec, key=race_key))

    def _schedule(self, query: Query) -> None:
        key = query_key(query)
        entry = self.engine.l1.get(key)
        if key in self._pending or (entry is not None and self.engine.clock() < entry.fresh_until):
            self.tally["skipped"] += 1
            return
        self._pending.add(key)
        self._count(query.dataset, "started")
        self.engine.spawn(self._warm(query, key))

    async def _warm(self, query: Query, key: str) -> None:
        if self._slots is None:  # made lazily: it must belong to the running loop
            self._slots = asyncio.Semaphore(self._concurrency)
        try:
            async with self._slots:
                await self.engine.get(query)
        except Exception as exc:  # a failed warm is only a missed opportunity
            self._count(query.dataset, "failed")
            log.debug("prefetch of %s failed: %s", key, exc)
        else:
            self._count(query.dataset, "done")
            self._warmed[key] = query.dataset
            while len(self._warmed) > self.remember:
                self._warmed.popitem(last=False)
        finally:
            self._pending.discard(key)

    def note_served(self, key: str) -> None:
        """A route is about to answer ``key``: count a hit if a prefetch made that entry."""
        dataset = self._warmed.get(key)
        if dataset is None:
            return
        entry = self.engine.l1.get(key)
        if entry is not None and self.engine.clock() < entry.fresh_until:
            del self._warmed[key]
            self._count(dataset, "hit")

    async def idle(self) -> None:
        """Wait until no warm is running (tests, benchmarks)."""
        while self._pending:
            await asyncio.sleep(0.001)

    def _count(self, dataset: str, outcome: str) -> None:
        self.tally[outcome] += 1
        self.engine.metrics.prefetch.labels(dataset, outcome).inc()

    def stats(self) -> dict[str, int]:
        return {**self.tally, "pending": len(self._pending), "awaiting_hit": len(self._warmed)}
