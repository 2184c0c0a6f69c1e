"""L1: the in-process tier. A TTL-LRU bounded in bytes, with a tag index for scoped invalidation.

cachetools' TLRUCache gives per-entry expiry (each entry carries its own hard deadline) and
LRU eviction by ``getsizeof``. It is not thread-safe: the engine only touches it from the
event-loop thread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from cachetools import TLRUCache

from kasoku.engine.entry import Entry


class MemoryTier:
    name = "l1"

    def __init__(self, max_bytes: int, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._cache: TLRUCache[str, Entry] = TLRUCache(
            maxsize=max_bytes, ttu=lambda _k, entry, _now: entry.hard_until, timer=clock, getsizeof=lambda e: e.nbytes
        )
        self._by_tag: dict[str, set[str]] = defaultdict(set)
        self._indexed = 0  # (tag, key) pairs added since the last rebuild: evictions leave stale ones

    def get(self, key: str) -> Entry | None:
        return self._cache.get(key)

    def set(self, key: str, entry: Entry) -> bool:
        """Store (or re-size after a new body was added). Returns False if it does not fit."""
        if entry.nbytes > self._cache.maxsize or entry.hard_until <= self._clock():
            self._cache.pop(key, None)
            return False
        self._cache[key] = entry
        for tag in entry.tags:
            self._by_tag[tag].add(key)
        self._indexed += len(entry.tags)
        if self._indexed > 4 * len(self._cache) + 1024:
            self._rebuild_index()
        return True

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        removed = 0
        for tag in tags:
            for key in self._by_tag.pop(tag, set()):
                if self._cache.pop(key, None) is not None:
                    removed += 1
        return removed

    def clear(self) -> int:
        n = len(self._cache)
        self._cache.clear()
        self._by_tag.clear()
        self._indexed = 0
        return n

    def keys(self) -> list[str]:
        return list(self._cache.keys())

    @property
    def entries(self) -> int:
        self._cache.expire()
        return len(self._cache)

    @property
    def count(self) -> int:
        """Entries held, expired ones included until they are next touched (cheap: for gauges)."""
        return len(self._cache)

    @property
    def bytes(self) -> int:
        return int(self._cache.currsize)

    @property
    def max_bytes(self) -> int:
        return int(self._cache.maxsize)

    def _rebuild_index(self) -> None:
        """Evicted keys linger in the tag index; rebuild it from what is really cached."""
        index: dict[str, set[str]] = defaultdict(set)
        for key, entry in self._cache.items():
            for tag in entry.tags:
                index[tag].add(key)
        self._by_tag = index
        self._indexed = sum(len(keys) for keys in index.values())
