"""Names of everything kasoku keeps in Redis, in one place (arq's ``constants.py`` habit).

Keys live in *buckets*. Every key of a bucket starts ``kasoku:{<hash tag>}:``, so on a Redis
or Valkey Cluster the whole bucket is one slot: each multi-key operation (a Lua script over
the generation, an entry and its tag sets; a lease) stays inside one bucket and therefore
one slot, which Cluster requires. A query key's bucket is a blake2b digest of it (never
``hash()``, which is salted per process).

One Redis has one bucket; a cluster has ``CLUSTER_BUCKETS``, whose hash tags are chosen so
their slots are evenly spaced over 0..16383 — ``valkey-cli --cluster create`` gives each
master an equal run of slots, so the buckets (and the entries) spread evenly over masters.

In a bucket: ``gen`` is the generation counter (INCR = "invalidate everything": old keys are
never read again and die by their TTL); ``e:<gen>:<query key>`` an entry; ``t:<gen>:<tag>``
the set of query keys of this bucket carrying the tag; ``lock:<query key>`` a lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

NAMESPACE = "kasoku:"
INVALIDATION_CHANNEL = NAMESPACE + "invalidate"  # pub/sub: {"origin", "tags", "everything"}
CLUSTER_BUCKETS = 16  # a tag invalidation on a cluster is one small script per bucket


@cache
def hash_tags(buckets: int) -> tuple[str, ...]:
    """One hash tag per bucket, bucket i's slot in the i-th of ``buckets`` equal slot ranges."""
    tags = []
    for i in range(buckets):
        low, high = i * REDIS_CLUSTER_HASH_SLOTS // buckets, (i + 1) * REDIS_CLUSTER_HASH_SLOTS // buckets
        n = 0
        while not low <= key_slot(f"{i}.{n}".encode()) < high:
            n += 1
        tags.append(f"{i}.{n}")
    return tuple(tags)


@dataclass(frozen=True)
class KeyLayout:
    """Where each of kasoku's Redis keys lives (see the module docstring)."""

    buckets: int = 1
    _prefixes: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.buckets < 1:
            raise ValueError("a key layout needs at least one bucket")
        object.__setattr__(self, "_prefixes", tuple(f"{NAMESPACE}{{{t}}}:" for t in hash_tags(self.buckets)))

    def bucket(self, key: str) -> int:
        if self.buckets == 1:
            return 0
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.buckets

    def all(self) -> range:
        return range(self.buckets)

    def generation(self, bucket: int) -> str:
        return self._prefixes[bucket] + "gen"

    def entries(self, bucket: int) -> str:
        """Prefix of entry keys: + ``<gen>:<query key>`` -> codec bytes, PX = the entry's hard TTL."""
        return self._prefixes[bucket] + "e:"

    def tags(self, bucket: int) -> str:
        """Prefix of tag sets: + ``<gen>:<tag>`` -> SET of this bucket's query keys carrying the tag."""
        return self._prefixes[bucket] + "t:"

    def lock(self, key: str) -> str:
        """The cross-worker single-flight lease of a query key: holder token, PX = lease."""
        return self._prefixes[self.bucket(key)] + "lock:" + key

# A single key (SET NX PX + compare-and-delete of one key): cluster-safe without a hash tag.
LEADER_PREFIX = NAMESPACE + "leader:"  # + <job group> -> holder token, PX = lease (one scheduler runs the jobs)
