"""Shared contracts of the engine: what a query is, what a source returns, what a tier stores.

Everything else in kasoku fits one of these: a domain registers datasets (with a policy)
and a source per dataset; the engine keys queries, looks through its tiers and runs the
source on a miss. Nothing here knows HTTP, Spotify or JRA-VAN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from kasoku.engine.entry import Entry


@dataclass(frozen=True, slots=True)
class Query:
    """One named, parameterised question to one dataset.

    ``params`` must already be validated and JSON-able: it is part of the cache key.
    ``scope`` is the caller's scope (user id, API key) where answers differ per caller.
    """

    dataset: str
    name: str
    params: Mapping[str, Any]
    scope: str = ""


@dataclass(slots=True)
class Result:
    """What a source returns: rows as an Arrow table plus what the cache needs to know.

    ``meta`` travels with the rows to every wire format (e.g. ``total_count`` of a page);
    ``tags`` say which slices of data the answer depends on (dataset, months, race days),
    so an ingest can invalidate exactly the entries it made stale. ``version``: the data version
    (lake snapshot id) the answer was computed from; None lets the engine stamp the version it
    knew before the run (see engine/versions.py).
    """

    table: pa.Table
    tags: frozenset[str] = frozenset()
    source: str = "raw"
    meta: dict[str, Any] = field(default_factory=dict)
    # When the data was made, on the engine's clock; None = now. A view cut from a cached
    # answer gives that answer's time, so it is as old as its data and never outlives it.
    generated_at: float | None = None
    version: int | None = None


class Source(Protocol):
    """Anything that can answer a query. Sources are async; blocking work goes to threads."""

    async def run(self, query: Query) -> Result: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a dataset's answers live, and where.

    ``ttl_l1``/``ttl_l2``: hard TTLs in memory and in Redis (they may differ: racing keeps
    RACE 5 min in memory, 24 h in Redis). ``stale_ttl``: how long past its TTL an entry may
    still be served (``X-Cache: stale``) while one background refresh runs.
    """

    ttl_l1: float = 6 * 3600.0
    ttl_l2: float = 6 * 3600.0
    stale_ttl: float = 0.0
    max_entry_bytes: int = 8 * 1024 * 1024
    adaptive: bool = False
    adaptive_max_factor: float = 4.0
    adaptive_min_reads: int = 3

    def with_overrides(self, **changes: Any) -> "Policy":
        """A copy with the given (non-None) fields changed: settings override domain defaults."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


Streamer = Callable[["Query"], AsyncIterator[pa.RecordBatch]]


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset registered by a domain: its name, default policy and source.

    ``stream``: the dataset's capability to answer a query batch by batch (results too large
    to hold, never cached); None = it cannot. Reached through ``Engine.stream``.
    """

    name: str
    policy: Policy
    source: Source
    rows_key: str = "data"
    stream: Streamer | None = None


@dataclass(frozen=True, slots=True)
class Lifetime:
    """How long an entry lives in the shared tier, counted from its ``created_at``."""

    fresh_for: float
    stale_for: float = 0.0


class SharedTier(Protocol):
    """L2, shared by workers (Redis). Every method degrades to 'nothing' on failure; none raises.

    ``put`` is fire-and-forget (a bounded background queue): a write never delays an answer,
    and never replaces an entry of a newer data version (``Entry.version``) with an older one.
    ``discard`` deletes an entry found stale unless a newer one replaced it; ``announce`` tells
    other workers a dataset has a new version (a latency shortcut: they would see it by polling).
    ``run_once`` is cross-worker single-flight: one worker runs ``compute`` (which returns the
    entry and its L2 lifetime, None = too big to share); the others get the result through
    ``wait_for`` (an L2 read that only accepts a fresh entry).
    """

    async def get(self, key: str) -> "Entry | None": ...
    def put(self, key: str, entry: "Entry", life: Lifetime) -> None: ...
    def discard(self, key: str, version: int) -> None: ...
    def announce(self, dataset: str) -> None: ...
    async def invalidate(self, *, tags: Iterable[str] | None = None, everything: bool = False,
                         broadcast: bool = True) -> int: ...
    async def run_once(self, key: str, compute: Callable[[], Awaitable["tuple[Entry, Lifetime | None]"]],
                       wait_for: Callable[[], Awaitable["Entry | None"]]) -> "Entry": ...
    def stats(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...
