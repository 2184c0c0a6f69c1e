"""Prometheus metrics of one engine (own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections import Counter as Tally
from collections import defaultdict, deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("kasoku_http_requests", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram("kasoku_http_request_seconds", "HTTP latency", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.cache = Counter("kasoku_cache_lookups", "Cache lookups by tier, dataset and outcome", ["tier", "dataset", "outcome"], registry=r)
        self.source_runs = Counter("kasoku_source_runs", "Source executions", ["dataset", "source"], registry=r)
        self.source_seconds = Histogram("kasoku_source_seconds", "Source run time", ["dataset"], buckets=LATENCY_BUCKETS, registry=r)
        self.coalesced = Counter("kasoku_coalesced_waiters", "Requests that waited for another's source run", ["dataset", "scope"], registry=r)
        self.l1_bytes = Gauge("kasoku_l1_bytes", "Bytes held by the memory tier", registry=r)
        self.l1_entries = Gauge("kasoku_l1_entries", "Entries held by the memory tier", registry=r)
        self.redis_errors = Counter("kasoku_redis_errors", "Redis calls that failed or timed out", ["op"], registry=r)
        self.breaker_open = Gauge("kasoku_redis_breaker_open", "Redis circuit breaker: 0 closed, 0.5 half-open (probing), 1 open", registry=r)
        self.redis_puts = Counter("kasoku_redis_puts", "Background writes to Redis by outcome (written, dropped, failed, skipped, superseded)", ["outcome"], registry=r)
        self.lock_takeovers = Counter("kasoku_redis_lock_takeovers", "Single-flight leases taken over after the holder's lease expired", registry=r)
        self.broadcasts = Counter("kasoku_invalidation_broadcasts", "Invalidation broadcasts by direction (sent, received, missed)", ["direction"], registry=r)
        self.invalidations = Counter("kasoku_invalidated_entries", "Entries dropped by invalidation", ["tier"], registry=r)
        self.prefetch = Counter("kasoku_prefetch", "Prefetches by outcome (started, done, failed, hit)", ["dataset", "outcome"], registry=r)
        self.version_checks = Counter("kasoku_version_checks", "Data version checks by dataset and outcome (unchanged, changed, failed)", ["dataset", "outcome"], registry=r)
        self.data_version = Gauge("kasoku_data_version", "The data version this worker serves, per followed dataset", ["dataset"], registry=r)
        self.timeouts = Counter("kasoku_query_timeouts", "Queries interrupted at their deadline", ["dataset"], registry=r)
        # Plain tallies for /admin/cache (hit ratio per dataset, share of repeated queries).
        self.outcomes: dict[str, Tally[str]] = defaultdict(Tally)
        self.tiers: dict[str, Tally[str]] = defaultdict(Tally)  # "<tier>:<dataset>" -> outcome counts
        self.runs: Tally[str] = Tally()  # dataset -> source executions
        self.waiters: Tally[str] = Tally()  # "process" | "cluster" -> coalesced waiters
        self.errors: Tally[str] = Tally()  # redis op -> failures
        self.seen_keys: Tally[str] = Tally()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.slow_log: deque[dict[str, Any]] = deque(maxlen=2000)

    def lookup(self, tier: str, dataset: str, outcome: str) -> None:
        self.child(self.cache, tier, dataset, outcome).inc()
        self.tiers[f"{tier}:{dataset}"][outcome] += 1

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised: ``labels()`` validates and locks on every call,
        which is a visible share of a cache hit's few microseconds."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def source_run(self, dataset: str, source: str, seconds: float) -> None:
        self.source_runs.labels(dataset, source).inc()
        self.source_seconds.labels(dataset).observe(seconds)
        self.runs[dataset] += 1

    def coalesced_waiter(self, dataset: str, scope: str) -> None:
        """A request that got another runner's result (scope: this process or another worker)."""
        self.coalesced.labels(dataset, scope).inc()
        self.waiters[scope] += 1

    def redis_error(self, op: str) -> None:
        self.redis_errors.labels(op).inc()
        self.errors[op] += 1

    def answered(self, dataset: str, key: str, outcome: str) -> None:
        """One answered query: feeds hit ratios and the repeated-query share."""
        self.outcomes[dataset][outcome] += 1
        if len(self.seen_keys) < 200_000:
            self.seen_keys[key] += 1

    def repeated_share(self) -> float:
        total = sum(self.seen_keys.values())
        if not total:
            return 0.0
        repeats = sum(n - 1 for n in self.seen_keys.values())
        return repeats / total

    def render(self) -> bytes:
        return generate_latest(self.registry)
