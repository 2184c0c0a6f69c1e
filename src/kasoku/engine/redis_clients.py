"""Redis clients for the shared tier: one server, or a Redis/Valkey Cluster named by any node.

Both kinds have bounded pools, short timeouts and redis-py's own retries off: the tier's
circuit breaker decides what a failure means (engine/redis_tier.py). On a cluster, redis-py's
``RedisCluster`` routes each command by its key's slot, follows MOVED/ASK, and after a
connection error re-reads the topology on its next command — so when a master fails over,
calls to its slots fail (a miss, counted by the breaker) until its replica is promoted, and
every other slot keeps answering.

The URL names any node (``redis://host:port``) or a few (``redis://h1:p1,h2:p2``), so that a
worker can start while one of them is down.

Pub/sub: a classic ``PUBLISH`` on any cluster node reaches subscribers on every node, so the
invalidation listener subscribes on one node over a plain connection, and on another known
node when that one goes away.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.backoff import NoBackoff
from redis.retry import Retry

from kasoku.engine.constants import CLUSTER_BUCKETS, KeyLayout
from kasoku.errors import ConfigError

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


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """``redis://[user:pass@]h1:p1,h2:p2/0`` → [(h1, p1), (h2, p2)]: the nodes to learn the cluster
    from. One is enough while it is up; naming a few lets a worker start while one is down."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":") if ":" in part else (part.strip(), "", "6379")
        if not host or not port.isdigit():
            raise ConfigError(f"redis_url: {part!r} is not host:port", details={"redis_url": _redact(url)})
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def _url_options(url: str) -> dict[str, Any]:
    """Credentials and TLS of a (possibly several-node) URL, as RedisCluster keywords."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"redis_url must start with redis:// or rediss://, not {parts.scheme!r}://")
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    options: dict[str, Any] = {"ssl": parts.scheme == "rediss"}
    if user:
        options["username"] = unquote(user)
    if password:
        options["password"] = unquote(password)
    return options


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(parts.netloc, parts.netloc.rpartition("@")[2]) if "@" in parts.netloc else url


def connect(url: str, *, cluster: bool, timeout: float, max_connections: int = 64) -> Connection:
    """A client for ``url``: one server, or (``cluster``) the cluster that node belongs to."""
    common = _common(timeout)
    if not cluster:
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout,
                                               socket_timeout=timeout, **common)
        # The listener blocks on reads by design: its own connection, no socket read timeout.
        return Connection(Redis.from_pool(pool), lambda: Redis.from_url(url, socket_keepalive=True, **common),
                          KeyLayout(1), cluster=False)
    # One retry, on a cluster only: a call that finds its node gone re-reads the topology and
    # tries once more, so after a failover the first call to the promoted replica succeeds
    # (during the failover both tries fail fast, and the call is still bounded by the tier's timeout).
    client = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
                          socket_timeout=timeout, max_connections=max_connections, require_full_coverage=False,
                          **_url_options(url), **{**common, "retry": Retry(NoBackoff(), 1)})
    turn = itertools.count()

    def subscriber() -> Redis:
        nodes = client.get_nodes() or [client.get_default_node()]
        node = nodes[next(turn) % len(nodes)] if nodes and nodes[0] is not None else None
        if node is None:
            return Redis.from_url(url, socket_keepalive=True, **common)
        return Redis(host=node.host, port=int(node.port), socket_keepalive=True, **common)

    return Connection(client, subscriber, KeyLayout(CLUSTER_BUCKETS), cluster=True)
