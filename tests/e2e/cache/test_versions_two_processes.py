"""Issue 10's races with two real server processes sharing one data version (a SQLite ledger)
and one Redis: a slow worker's late put, Redis stalled (SIGSTOP) during the invalidation.

Every worker follows the version by itself (poll interval 0.3 s here). The tests wait until a
worker reports the new version in /health (with a timeout far below any TTL: a worker that
never learns fails), and then require that nothing older is served by it from any tier. How
long learning takes is measured by benchmarks/freshness.py, not asserted here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from kasoku.engine import codec
from kasoku.engine.constants import KeyLayout
from kasoku.engine.keys import query_key
from kasoku.engine.types import Query
from tests.e2e.cache.ledger import DATASET, Ledger
from tests.services import RedisServer

from .conftest import Server

INTERVAL = "0.3"
MONTHS = ["2024-01", "2024-02", "2024-03"]
FACTORY = "tests.e2e.cache.ledger:create"


def wait_until(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def price(server: Server, month: str) -> int:
    response = httpx.get(f"{server.url}/prices/{month}", timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["data"][0]["price"])


def version_of(server: Server) -> int | None:
    return httpx.get(server.url + "/health", timeout=5).json()["data_versions"].get(DATASET)


def entry_key(month: str) -> str:
    """Where one server's tier (one bucket, generation 0) keeps a month's answer."""
    key = query_key(Query(DATASET, "prices", {"month": month}))
    layout = KeyLayout()
    return f"{layout.entries(layout.bucket(key))}0:{key}"


def l2_version(redis_url: str, month: str) -> int | None:
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.get(entry_key(month))
    finally:
        client.close()
    return None if raw is None else codec.decode(raw).version


_probes = iter(range(1, 10_000))


def breaker_closed(server: Server) -> bool:
    """After a request that needs Redis (a month never asked for): the breaker only closes on a call."""
    assert httpx.get(f"{server.url}/prices/2099-{next(_probes):04d}").status_code == 200
    return httpx.get(server.url + "/admin/cache", headers=server.admin()).json()["l2"]["breaker"] == "closed"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(str(tmp_path / "ledger.sqlite"))
    ledger.init(MONTHS)
    return ledger


def start(redis_url: str | None, ledger: Ledger, **env: str) -> Server:
    return Server(redis_url, factory=FACTORY, env={"LEDGER_DB": ledger.path, "KASOKU_VERSION_POLL_INTERVAL": INTERVAL,
                                                   "KASOKU_LOCK_LEASE": "0.2", **env})


@pytest.fixture
def servers(request: pytest.FixtureRequest) -> Iterator[list[Server]]:
    made: list[Server] = []
    request.node.made = made
    yield made
    for server in made:
        server.stop()


def test_a_slow_workers_pre_change_answer_is_served_nowhere_after_the_change(
        redis_url: str, ledger: Ledger, servers: list[Server]) -> None:
    """B reads February at version 1 and takes 1.5 s to answer; its version reads take 2 s
    (so it stores its answer before it can know of the change).
    The data changes meanwhile; A learns and asks for February too. B's lease is renewed while
    its source runs, so A waits for B's run, refuses B's version-1 answer (it knows version 2),
    computes version 2 and stores it over B's; once each worker knows version 2 none serves
    version 1. (A put of version 1 arriving after version 2's is refused: tests/integration/
    cache/test_versions_l2.py.)"""
    a = start(redis_url, ledger)
    servers.append(a)
    b = start(redis_url, ledger, LEDGER_SLOW_MONTH="2024-02", LEDGER_SLOW_SOURCE="1.5", LEDGER_SLOW_VERSION="2.0")
    servers.append(b)
    assert price(a, "2024-01") == 1 and price(b, "2024-01") == 1  # B: an L2 hit, now in its L1
    assert price(a, "2024-03") == 1
    slow: list[int] = []
    in_flight = threading.Thread(target=lambda: slow.append(price(b, "2024-02")))
    in_flight.start()
    time.sleep(0.3)  # B's source has read version 1 of February
    ledger.change(MONTHS)
    seen: list[tuple[bool, int]] = []  # (A knew version 2 when the request was sent, price)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            knew = version_of(a) == 2
            seen.append((knew, price(a, "2024-02")))

    hammering = threading.Thread(target=hammer)
    hammering.start()
    try:
        assert wait_until(lambda: version_of(a) == 2)
        in_flight.join(30)
        assert slow == [1]  # B's caller asked before the change: its answer is of version 1
        assert wait_until(lambda: version_of(b) == 2)
    finally:
        stop.set()
        hammering.join(30)
    assert seen and all(p == 2 for knew, p in seen if knew)
    for server in (a, b):
        assert [price(server, m) for m in MONTHS] == [2, 2, 2]
    assert l2_version(redis_url, "2024-02") == 2  # B's put of version 1 did not win


def test_redis_stalled_during_the_invalidation_loses_nothing(
        redis_url: str, redis_server: RedisServer, ledger: Ledger, servers: list[Server]) -> None:
    a, b = start(redis_url, ledger), start(redis_url, ledger)
    servers += [a, b]
    assert price(a, "2024-01") == 1 and price(b, "2024-01") == 1
    assert price(a, "2024-02") == 1  # in L2 (and A's L1); B never asked for it
    client = redis.Redis.from_url(redis_url)
    key = entry_key("2024-02")
    assert wait_until(lambda: client.get(key) is not None)
    old = client.get(key)
    redis_server.pause()
    try:
        ledger.change(MONTHS)
        assert wait_until(lambda: version_of(a) == 2 and version_of(b) == 2)  # no Redis needed to learn
        assert price(a, "2024-01") == 2 and price(b, "2024-01") == 2
    finally:
        redis_server.resume()
    client.set(key, old)  # whatever Redis did with the stalled drop: the version-1 entry is back
    client.close()
    assert wait_until(lambda: breaker_closed(a) and breaker_closed(b))
    assert price(b, "2024-02") == 2  # L2 held version 1: B's own book refused it
    assert [price(s, m) for s in (a, b) for m in MONTHS] == [2] * 6
    assert wait_until(lambda: l2_version(redis_url, "2024-02") == 2)
