"""Redis clients for the shared tier: one server, or a Redis/Valkey Cluster named by any node.

Both kinds have bounded pools, short timeouts and redis-py's own retries off: the tier's
circuit breaker decides what a failure means (engine/redis_tier.py). On a cluster, redis-py's
``RedisCluster`` routes each command by its key's slot, follows MOVED/ASK, and after a
connection error re-reads the topology on its next command — so when a master fails over,
calls to its slots fail (a miss, counted by the breaker) until its replica is promoted, and
every other slot keeps answering.

Pub/sub: a classic ``PUBLISH`` on any cluster node reaches subscribers on every node, so the
invalidation listener subscribes on one node over a plain connection, and on another known
node when that one goes away.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from kasoku.engine.constants import CLUSTER_BUCKETS, KeyLayout

Client = Redis | RedisCluster


@dataclass
class Connection:
    """What the tier talks through: a command client, a pub/sub connection maker, the key layout."""

    client: Client
    subscriber: Callable[[], Redis]  # a new connection for the listener (each reconnect: maybe another node)
    layout: KeyLayout
    cluster: bool


def _common(timeout: float) -> dict[str, Any]:
    return {"socket_connect_timeout": timeout, "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}


def connect(url: str, *, cluster: bool, timeout: float, max_connections: int = 64) -> Connection:
    """A client for ``url``: one server, or (``cluster``) the cluster that node belongs to."""
    common = _common(timeout)
    if not cluster:
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout,
                                               socket_timeout=timeout, **common)
        # The listener blocks on reads by design: its own connection, no socket read timeout.
        return Connection(Redis.from_pool(pool), lambda: Redis.from_url(url, socket_keepalive=True, **common),
                          KeyLayout(1), cluster=False)
    client = RedisCluster.from_url(url, socket_timeout=timeout, max_connections=max_connections,
                                   require_full_coverage=False, **common)
    turn = itertools.count()

    def subscriber() -> Redis:
        nodes = client.get_nodes() or [client.get_default_node()]
        node = nodes[next(turn) % len(nodes)] if nodes and nodes[0] is not None else None
        if node is None:
            return Redis.from_url(url, socket_keepalive=True, **common)
        return Redis(host=node.host, port=int(node.port), socket_keepalive=True, **common)

    return Connection(client, subscriber, KeyLayout(CLUSTER_BUCKETS), cluster=True)
