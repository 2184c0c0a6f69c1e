"""The engine: one straight path from a query to cached bytes.

    key → L1 → (L2) → single-flight → source → entry stored in the tiers

It knows datasets, policies, tiers, sources and data versions; it knows nothing of HTTP or
of any domain.

Freshness (engine/versions.py): a followed dataset's entries carry the data version they were
computed from, and this process's book of what changed when decides whether one may be served.
L1 never holds an entry the book calls stale: every book change drops its tags from L1 at
once (no await between), and nothing stale is ever put into L1 — so an L1 hit, and the fast
path in api/, need no check. Entries read from L2 are checked on every read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from kasoku.engine.adaptive import AdaptiveTTL
from kasoku.engine.entry import Entry
from kasoku.engine.keys import query_key
from kasoku.engine.memory import MemoryTier
from kasoku.engine.metrics import Metrics
from kasoku.engine.singleflight import SingleFlight
from kasoku.engine.types import Dataset, Lifetime, Policy, Query, Result, SharedTier
from kasoku.engine.versions import Follower, VersionSource
from kasoku.errors import NotFound, QueryTimeout

log = logging.getLogger(__name__)

Outcome = Literal["hit", "miss", "stale"]
__all__ = ["Engine", "Outcome", "Served", "SharedTier"]


@dataclass(slots=True)
class Served:
    entry: Entry
    outcome: Outcome
    key: str
    tier: str  # l1 | l2 | source

    def age(self, now: float) -> int:
        return max(0, int(now - self.entry.created_at))

    def remaining(self, now: float) -> int:
        return max(0, int(self.entry.fresh_until - now))


class Engine:
    def __init__(self, *, l1_bytes: int, clock: Callable[[], float] = time.time, metrics: Metrics | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None, rows_limit_for_cache: int | None = None,
                 l2: SharedTier | None = None, single_flight: bool = True) -> None:
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.l1 = MemoryTier(l1_bytes, clock=clock)
        self.l2: SharedTier | None = l2
        self.flight: SingleFlight[Entry] = SingleFlight()
        # Concurrent L1 misses of one key share one Redis read too (a cold burst is one GET, not N).
        self._l2_reads: SingleFlight[Entry | None] = SingleFlight()
        self.single_flight = single_flight  # off only to measure what coalescing saves (benchmarks)
        self._datasets: dict[str, Dataset] = {}
        self._overrides = overrides or {}
        self._background: set[asyncio.Task[Any]] = set()
        self.adaptive = AdaptiveTTL()
        self.on_result: list[Callable[[Query, Result], None]] = []  # e.g. prefetch rules
        self.versions = Follower(self._changed, metrics=self.metrics)

    # -- registry -------------------------------------------------------------------------
    def register(self, dataset: Dataset) -> None:
        if dataset.name in self._datasets:
            raise ValueError(f"dataset {dataset.name!r} registered twice")
        policy = dataset.policy.with_overrides(**self._overrides.get(dataset.name, {}))
        self._datasets[dataset.name] = dataclasses.replace(dataset, policy=policy)

    def dataset(self, name: str) -> Dataset:
        try:
            return self._datasets[name]
        except KeyError:
            raise NotFound(f"unknown dataset {name!r}", details={"datasets": sorted(self._datasets)}) from None

    @property
    def datasets(self) -> dict[str, Dataset]:
        return dict(self._datasets)

    # -- data versions ----------------------------------------------------------------------
    def follow(self, dataset: str, source: VersionSource, *, interval: float) -> None:
        """Follow ``dataset``'s data version: poll ``source`` every ``interval`` seconds (from
        :meth:`start`) and drop exactly what changed. Its entries then record their version."""
        self.dataset(dataset)
        self.versions.follow(dataset, source, interval=interval)

    async def check_versions(self, dataset: str) -> bool:
        """Check ``dataset``'s version now (e.g. right after this process wrote). True if it changed."""
        return await self.versions.check(dataset)

    async def start(self) -> None:
        """Read every followed version once, then poll in the background (app startup)."""
        await self.versions.start()

    def _fresh(self, dataset: str, entry: Entry) -> bool:
        book = self.versions.book(dataset)
        return book is None or not book.stale(entry.version, entry.tags)

    async def _changed(self, dataset: str, tags: frozenset[str] | None) -> None:
        """The follower learned a new version (its book already says so): drop what it retired.

        L1 first and synchronously (the invariant above); L2 is only cleanup — an entry left
        there because Redis is down is refused on read by every worker's own book.
        """
        wanted = [f"dataset:{dataset}"] if tags is None else sorted(tags)
        removed_l1 = self.l1.invalidate_tags(wanted)
        self.metrics.invalidations.labels("l1").inc(removed_l1)
        self._gauge()
        if self.l2 is not None:
            self.l2.announce(dataset)
            removed_l2 = await self.l2.invalidate(tags=wanted, broadcast=False)
            self.metrics.invalidations.labels("l2").inc(removed_l2)

    # -- the read path ----------------------------------------------------------------------
    async def get(self, query: Query) -> Served:
        dataset = self.dataset(query.dataset)
        key = query_key(query)
        now = self.clock()
        entry = self.l1.get(key)
        if entry is not None:
            if dataset.policy.adaptive:
                self.adaptive.read(key)
            if now < entry.fresh_until:
                return self._answer(dataset, key, Served(entry, "hit", key, "l1"))
            # Past its TTL but within the stale window: serve it, refresh once in the background.
            self.flight.start(key, lambda: self._refresh(dataset, query, key))
            return self._answer(dataset, key, Served(entry, "stale", key, "l1"))
        self.metrics.lookup("l1", dataset.name, "miss")
        if self.l2 is not None:
            l2 = self.l2
            entry, _ = await self._l2_reads.do(key, lambda: l2.get(key))
            if entry is not None and not await self._usable(dataset.name, key, entry):
                entry = None
            if entry is not None and now < entry.hard_until:
                if dataset.policy.adaptive:
                    self.adaptive.read(key)
                entry = self._promote(key, entry, dataset.policy)
                if now < entry.fresh_until:
                    return self._answer(dataset, key, Served(entry, "hit", key, "l2"))
                self.flight.start(key, lambda: self._refresh(dataset, query, key))
                return self._answer(dataset, key, Served(entry, "stale", key, "l2"))
            self.metrics.lookup("l2", dataset.name, "miss")
        if not self.single_flight:
            entry = await self._compute(dataset, query, key)
            return self._answer(dataset, key, Served(entry, "miss", key, "source"))
        entry, leader = await self.flight.do(key, lambda: self._compute(dataset, query, key))
        if not leader:
            self.metrics.coalesced_waiter(dataset.name, "process")
            if not self._fresh(dataset.name, entry):
                # Joined a run that began before a change this process now knows of: run again.
                entry, _ = await self.flight.do(key, lambda: self._compute(dataset, query, key))
        return self._answer(dataset, key, Served(entry, "miss", key, "source"))

    async def _usable(self, dataset: str, key: str, entry: Entry) -> bool:
        """Whether an entry read from L2 may be served by this process's book; a stale one is deleted."""
        book = self.versions.book(dataset)
        if book is None:
            return True
        version = entry.version
        if version is not None and book.horizon is not None and version < book.horizon:
            # Older than what this process has followed: ask the source what changed since (once per version).
            await self.versions.extend(dataset, version)
        if version is not None and book.latest is not None and version > book.latest:
            self.versions.nudge(dataset)  # another worker has seen a newer version: look now
        if not book.stale(version, entry.tags):
            return True
        if version is not None and self.l2 is not None:
            self.l2.discard(key, version)
        self.metrics.lookup("l2", dataset, "outdated")
        return False

    def stream(self, query: Query) -> AsyncIterator[pa.RecordBatch]:
        """The rows of ``query`` batch by batch, from the dataset's streaming capability (never cached)."""
        dataset = self.dataset(query.dataset)
        if dataset.stream is None:
            raise NotFound(f"dataset {query.dataset!r} cannot stream its answers", details={"dataset": query.dataset})
        return dataset.stream(query)

    def _answer(self, dataset: Dataset, key: str, served: Served) -> Served:
        if served.outcome != "miss":
            self.metrics.lookup(served.tier, dataset.name, served.outcome)
        self.metrics.answered(dataset.name, key, served.outcome)
        return served

    def _promote(self, key: str, entry: Entry, policy: Policy) -> Entry:
        """An L2 entry goes to L1 with its *remaining* lifetime, capped by L1's own TTL from now.

        So RACE (5 min in memory, 24 h in Redis) re-reads Redis every 5 minutes, and no entry
        outlives its L2 deadline by being promoted.
        """
        now = self.clock()
        cap = now + policy.ttl_l1 * self.adaptive.factor(key)
        entry.fresh_until = min(entry.fresh_until, cap)
        entry.hard_until = min(entry.hard_until, max(entry.fresh_until, now) + policy.stale_ttl)
        if self.l1.set(key, entry):
            self._gauge()
        return entry

    async def _refresh(self, dataset: Dataset, query: Query, key: str) -> Entry:
        """Background refresh of a stale entry: another worker may already have refreshed L2."""
        if self.l2 is not None:
            entry = await self.l2.get(key)
            if entry is not None and self.clock() < entry.fresh_until and await self._usable(dataset.name, key, entry):
                return self._promote(key, entry, dataset.policy)
        return await self._compute(dataset, query, key)

    async def _compute(self, dataset: Dataset, query: Query, key: str) -> Entry:
        l2 = self.l2
        if l2 is None:
            entry, _life = await self._run_source(dataset, query, key)
            return entry
        if not self.single_flight:
            entry, life = await self._run_source(dataset, query, key)
            if life is not None:
                l2.put(key, entry, life)
            return entry

        # Across workers: one holder of a Redis lease runs the source; others wait for its result.
        async def wait_for() -> Entry | None:
            found = await l2.get(key)
            if found is None or self.clock() >= found.fresh_until or not self._fresh(dataset.name, found):
                return None  # nothing yet, the stale entry being refreshed, or an older version's
            return self._promote(key, found, dataset.policy)

        return await l2.run_once(key, lambda: self._run_source(dataset, query, key), wait_for)

    async def _run_source(self, dataset: Dataset, query: Query, key: str) -> tuple[Entry, Lifetime | None]:
        """Run the source, keep the answer in L1; returns it with its L2 lifetime (None: too big to cache)."""
        started = time.perf_counter()
        book = self.versions.book(dataset.name)
        known = book.latest if book is not None else None  # the version this run reads at least
        try:
            result = await dataset.source.run(query)
        except QueryTimeout:
            self.metrics.timeouts.labels(dataset.name).inc()
            raise
        elapsed = time.perf_counter() - started
        self.metrics.source_run(dataset.name, result.source, elapsed)
        self.metrics.slow_log.append({"dataset": dataset.name, "name": query.name, "seconds": elapsed,
                                      "source": result.source, "key": key})
        policy = dataset.policy
        tags = frozenset({f"dataset:{dataset.name}", *result.tags})
        now = self.clock()
        created = now if result.generated_at is None else min(now, result.generated_at)
        entry = Entry.from_table(result.table, meta=result.meta, tags=tags, source=result.source,
                                 rows_key=dataset.rows_key, created_at=created, ttl=policy.ttl_l1,
                                 stale_ttl=policy.stale_ttl,
                                 version=result.version if result.version is not None else known)
        book = self.versions.book(dataset.name)  # as it is now: it may have learned a change meanwhile
        if book is not None and result.version is not None and book.latest is not None \
                and result.version > book.latest:
            self.versions.nudge(dataset.name)
        factor = self.adaptive.refreshed(key, entry.payload, policy)
        entry.fresh_until = self._fresh_until(policy, factor, created, now)
        entry.hard_until = entry.fresh_until + policy.stale_ttl
        life: Lifetime | None = None
        if book is not None and book.stale(entry.version, entry.tags):
            log.info("not caching %s: computed from version %s, older than a change since", key, entry.version)
        elif len(entry.payload) <= policy.max_entry_bytes:
            self.l1.set(key, entry)
            life = Lifetime(policy.ttl_l2 * factor, policy.stale_ttl)
            self._gauge()
        for hook in self.on_result:
            try:
                hook(query, result)
            except Exception:  # a hook must never fail the answer
                log.exception("result hook failed for %s", key)
        return entry, life

    def _fresh_until(self, policy: Policy, factor: float, created: float, now: float) -> float:
        """An answer's L1 deadline. Made from older data (``created`` < now), it lives no longer
        than that data does in the tiers (L1, or L2 when on) and re-reads as a promoted entry would."""
        longest = max(policy.ttl_l1, policy.ttl_l2) if self.l2 is not None else policy.ttl_l1
        return min(created + longest * factor, now + policy.ttl_l1 * factor)

    # -- bodies -------------------------------------------------------------------------------
    def charge(self, served: Served) -> None:
        """After a new body was made for an L1 entry, charge its bytes (may evict others)."""
        if self.l1.get(served.key) is served.entry:
            self.l1.set(served.key, served.entry)
            self._gauge()

    # -- invalidation -------------------------------------------------------------------------
    async def invalidate(self, *, dataset: str | None = None, tags: Iterable[str] | None = None) -> dict[str, int]:
        """Drop entries of a dataset, of tags, or (neither given) everything. Returns counts per tier.

        L2 goes first: a miss between the two would otherwise copy the retired L2 entry back to L1.
        """
        wanted = list(tags or [])
        if dataset is not None:
            self.dataset(dataset)
            wanted.append(f"dataset:{dataset}")
        everything = not wanted
        removed_l2 = 0
        if self.l2 is not None:
            removed_l2 = await self.l2.invalidate(tags=wanted, everything=everything)
        removed_l1 = self.l1.clear() if everything else self.l1.invalidate_tags(wanted)
        self.metrics.invalidations.labels("l1").inc(removed_l1)
        self.metrics.invalidations.labels("l2").inc(removed_l2)
        self._gauge()
        return {"l1": removed_l1, "l2": removed_l2}

    async def invalidate_local(self, *, tags: Iterable[str] | None, everything: bool) -> int:
        """Apply an invalidation broadcast by another worker to this process's L1 only."""
        removed = self.l1.clear() if everything else self.l1.invalidate_tags(tags or [])
        self._gauge()
        return removed

    # -- housekeeping ---------------------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """A background task the engine keeps a reference to (so it is not garbage-collected)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _gauge(self) -> None:
        self.metrics.l1_bytes.set(self.l1.bytes)
        self.metrics.l1_entries.set(self.l1.count)

    def stats(self) -> dict[str, Any]:
        """The figures of /metrics as JSON, plus hit ratios and the share of repeated queries."""
        m = self.metrics
        per_dataset = {}
        for name, tally in m.outcomes.items():
            total = sum(tally.values())
            per_dataset[name] = {**tally, "total": total, "source_runs": m.runs.get(name, 0),
                                 "hit_ratio": round((tally["hit"] + tally["stale"]) / total, 4) if total else 0.0}
        policies = {n: d.policy for n, d in self._datasets.items()}
        return {
            "l1": {"entries": self.l1.entries, "bytes": self.l1.bytes, "max_bytes": self.l1.max_bytes},
            "l2": self.l2.stats() if self.l2 is not None else None,
            "tiers": {k: dict(v) for k, v in m.tiers.items()},
            "datasets": per_dataset,
            "repeated_share": round(m.repeated_share(), 4),
            "source_runs": sum(m.runs.values()),
            "coalesced": {"process": m.waiters.get("process", 0), "cluster": m.waiters.get("cluster", 0)},
            "redis_errors": dict(m.errors),
            "single_flight": self.single_flight,
            "adaptive_ttls": self.adaptive.chosen(policies),
            "policies": {n: _policy_dict(p) for n, p in policies.items()},
            "versions": self.versions.stats(),
        }

    async def close(self) -> None:
        await self.versions.close()
        for task in [*self._background, *self.flight.tasks()]:
            task.cancel()
        if self.l2 is not None:
            await self.l2.close()


def _policy_dict(policy: Policy) -> dict[str, Any]:
    return {"ttl_l1": policy.ttl_l1, "ttl_l2": policy.ttl_l2, "stale_ttl": policy.stale_ttl,
            "max_entry_bytes": policy.max_entry_bytes, "adaptive": policy.adaptive,
            "adaptive_max_factor": policy.adaptive_max_factor}
