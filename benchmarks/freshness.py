"""Freshness: time from a data version change to the first request on another server process
that sees it — no admin token, no notify; each worker follows the version itself (issue 10).

Two uvicorn processes serve the SQLite ledger domain of the e2e tests (data and version in one
shared file). Each round: both processes have the month cached (L1 hit), the ledger commits a
new version, and the client asks server B every 5 ms until the answer carries it. Goal: at most
``version_poll_interval`` + 100 ms. Run without Redis (polling alone) and with Redis (a worker
that learns first announces it on pub/sub, so the other checks at once).

    PYTHONPATH=src:. python -m benchmarks.freshness [--interval 2.0] [--rounds 8] [--no-redis]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.cache.conftest import Server
from tests.e2e.cache.ledger import Ledger
from tests.services import RedisServer

MONTH = "2024-01"


@contextlib.contextmanager
def two_servers(ledger: Ledger, interval: float, redis_url: str | None) -> Iterator[tuple[Server, Server]]:
    env = {"LEDGER_DB": ledger.path, "KASOKU_VERSION_POLL_INTERVAL": str(interval)}
    factory = "tests.e2e.cache.ledger:create"
    a = Server(redis_url, factory=factory, env=env)
    try:
        b = Server(redis_url, factory=factory, env=env)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def price(client: httpx.Client, server: Server) -> int:
    return int(client.get(f"{server.url}/prices/{MONTH}").json()["data"][0]["price"])


def rounds(ledger: Ledger, a: Server, b: Server, n: int, interval: float) -> list[float]:
    seen: list[float] = []
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            want = price(client, a)
            assert price(client, b) == want  # both cached
            # Commit at a different phase of the poll cycle each round.
            time.sleep(interval * ((i * 0.37) % 1.0))
            version = ledger.change([MONTH])
            committed = time.perf_counter()
            while price(client, b) != version:
                time.sleep(0.005)
            seen.append(time.perf_counter() - committed)
    return seen


def report(label: str, seen: list[float], interval: float) -> None:
    goal = interval + 0.1
    ms = sorted(s * 1000 for s in seen)
    print(f"{label:<34}{ms[0]:>8.0f}{statistics.median(ms):>8.0f}{ms[-1]:>8.0f} ms"
          f"   max/goal {ms[-1] / (goal * 1000):.2f}  ({sum(s <= goal for s in seen)}/{len(seen)} within goal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=2.0, help="version_poll_interval of both servers")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--no-redis", action="store_true", help="only the run without Redis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(str(Path(tmp) / "ledger.sqlite"))
        ledger.init([MONTH])
        print(f"freshness: version change → first answer of it on another process; poll interval "
              f"{args.interval:g} s, goal ≤ {(args.interval + 0.1) * 1000:.0f} ms, {args.rounds} rounds")
        print(f"{'':<34}{'min':>8}{'median':>8}{'max':>8}")
        with two_servers(ledger, args.interval, None) as (a, b):
            report("no Redis (polling only)", rounds(ledger, a, b, args.rounds, args.interval), args.interval)
        if not args.no_redis:
            redis = RedisServer()
            redis.start()
            try:
                with two_servers(ledger, args.interval, redis.url_for(1)) as (a, b):
                    report("Redis (poll + pub/sub news)", rounds(ledger, a, b, args.rounds, args.interval),
                           args.interval)
            finally:
                redis.close()


if __name__ == "__main__":
    main()
