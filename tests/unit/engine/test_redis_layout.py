"""Redis key layout (hash-tagged buckets) and cluster URLs: pure functions, no server."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from kasoku.engine.constants import CLUSTER_BUCKETS, KeyLayout, hash_tags
from kasoku.engine.redis_clients import cluster_nodes
from kasoku.errors import ConfigError


def slot(key: str) -> int:
    return int(key_slot(key.encode()))


def test_every_key_of_a_bucket_is_in_one_slot() -> None:
    layout = KeyLayout(CLUSTER_BUCKETS)
    key = "listening:top-tracks:0123456789abcdef"
    b = layout.bucket(key)
    same = {slot(layout.generation(b)), slot(layout.entries(b) + "7:" + key), slot(layout.tags(b) + "7:month:2024-03"),
            slot(layout.lock(key))}
    assert len(same) == 1


def test_buckets_are_stable_and_spread_evenly_over_the_slot_space() -> None:
    layout = KeyLayout(CLUSTER_BUCKETS)
    assert layout.bucket("d:q:1") == KeyLayout(CLUSTER_BUCKETS).bucket("d:q:1")  # blake2b, not hash()
    slots = [slot(layout.generation(b)) for b in layout.all()]
    assert slots == sorted(slots)
    width = 16384 // CLUSTER_BUCKETS
    assert all(b * width <= s < (b + 1) * width for b, s in enumerate(slots))  # three masters: 6/5/5 buckets
    counts = [0] * CLUSTER_BUCKETS
    for i in range(1600):
        counts[layout.bucket(f"d:q:{i}")] += 1
    assert min(counts) > 50  # keys spread over every bucket
    assert hash_tags(1) == ("0.0",) and KeyLayout().bucket("anything") == 0


def test_cluster_urls_name_one_node_or_several() -> None:
    assert cluster_nodes("redis://10.0.0.5:7000") == [("10.0.0.5", 7000)]
    assert cluster_nodes("redis://u:p@a:7000,b:7001/0") == [("a", 7000), ("b", 7001)]
    assert cluster_nodes("redis://valkey") == [("valkey", 6379)]
    with pytest.raises(ConfigError):
        cluster_nodes("redis://a:notaport")
