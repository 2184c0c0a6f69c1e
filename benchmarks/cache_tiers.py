"""Cache tier benchmark: L1 get, L2 get (Redis on loopback), miss; and request coalescing.

    python benchmarks/cache_tiers.py [--redis-url URL] [--iterations 2000] [--delay-ms 20 40]
                                      [--concurrency 200] [--upstream-slots 8]

Prints figures against the original racing service's published ones (L1 hit 0.01 ms, L2 hit 1-2 ms, miss 20-40 ms). Without
--redis-url it starts its own redis-server/valkey-server on a free port. Each get goes
through the whole engine (key hashing, tier lookups, metrics), as a request would.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from kasoku.engine.engine import Engine  # noqa: E402
from kasoku.engine.redis_tier import RedisTier  # noqa: E402
from kasoku.engine.types import Dataset, Policy, Query, Result  # noqa: E402

SEED_MS = {"L1 get": (0.01, 0.01), "L2 get (loopback)": (1.0, 2.0), "miss": (20.0, 40.0)}
console = Console(width=120)


class SlowSource:
    """An upstream that takes ``delay`` seconds per call and serves ``slots`` calls at a time."""

    def __init__(self, delay_ms: tuple[float, float], slots: int) -> None:
        self.delay_ms = delay_ms
        self.slots = asyncio.Semaphore(slots)
        self.runs = 0
        self.rng = random.Random(7)

    async def run(self, query: Query) -> Result:
        self.runs += 1
        async with self.slots:
            await asyncio.sleep(self.rng.uniform(*self.delay_ms) / 1000)
        n = 50
        return Result(pa.table({"i": list(range(n)), "odds": [1.5 + i / 10 for i in range(n)]}), tags=frozenset({"bench"}))


def engine_with(source: SlowSource, redis_url: str | None, *, single_flight: bool = True) -> Engine:
    engine = Engine(l1_bytes=256 * 1024 * 1024, single_flight=single_flight)
    if redis_url:
        engine.l2 = RedisTier.from_url(redis_url, metrics=engine.metrics, timeout=1.0, lease=30, failures=3, reset=5)
    engine.register(Dataset("bench", Policy(ttl_l1=3600, ttl_l2=3600), source))
    return engine


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"mean": statistics.fmean(ordered), "stdev": statistics.pstdev(ordered), "min": ordered[0],
            "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}


async def timed(label: str, n: int, progress: Progress, op) -> list[float]:  # type: ignore[no-untyped-def]
    task = progress.add_task(label, total=n)
    for i in range(10):  # warm-up, as the seed's client does
        await op(-1 - i)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        samples.append((time.perf_counter() - started) * 1000)
        progress.advance(task)
    return samples


async def tiers(redis_url: str, args: argparse.Namespace, progress: Progress) -> dict[str, list[float]]:
    source = SlowSource(tuple(args.delay_ms), slots=10_000)
    engine = engine_with(source, redis_url)
    hot = Query("bench", "race", {"id": "hot"})
    await engine.get(hot)
    await engine.l2.flush()  # type: ignore[union-attr]
    key = (await engine.get(hot)).key
    results: dict[str, list[float]] = {}

    async def l1(_i: int) -> None:
        await engine.get(hot)

    async def l2(_i: int) -> None:
        engine.l1.delete(key)  # force the L2 path, then promotion
        await engine.get(hot)

    async def miss(i: int) -> None:
        await engine.get(Query("bench", "race", {"id": f"cold-{i}"}))

    results["L1 get"] = await timed("L1 get", args.iterations, progress, l1)
    results["L2 get (loopback)"] = await timed("L2 get", args.iterations, progress, l2)
    results["miss"] = await timed("miss", max(50, args.iterations // 20), progress, miss)
    await engine.close()
    return results


async def coalescing(redis_url: str, args: argparse.Namespace, progress: Progress) -> list[tuple[str, int, dict[str, float]]]:
    rows = []
    for label, single_flight, url in [("single-flight, L1 only", True, None), ("single-flight, L1+L2", True, redis_url),
                                      ("no single-flight", False, None)]:
        task = progress.add_task(f"coalescing: {label}", total=args.concurrency)
        source = SlowSource(tuple(args.delay_ms), slots=args.upstream_slots)
        engine = engine_with(source, url, single_flight=single_flight)
        query = Query("bench", "race", {"id": f"burst-{label}"})

        async def one() -> float:
            started = time.perf_counter()
            await engine.get(query)
            progress.advance(task)
            return (time.perf_counter() - started) * 1000

        samples = await asyncio.gather(*(one() for _ in range(args.concurrency)))
        rows.append((label, source.runs, summary(list(samples))))
        await engine.close()
    return rows


async def main(args: argparse.Namespace) -> None:
    server = None
    url = args.redis_url
    if url is None:
        from tests.services import RedisServer

        server = RedisServer()
        server.start()
        url = server.url_for(0)
    try:
        with Progress(console=console, transient=True) as progress:
            measured = await tiers(url, args, progress)
            bursts = await coalescing(url, args, progress)
    finally:
        if server is not None:
            server.close()
    table = Table(title="cache tiers (ms per get, through the engine)")
    for col in ("path", "mean", "p50", "p95", "p99", "max", "seed", "mean vs seed"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for name, samples in measured.items():
        s = summary(samples)
        low, high = SEED_MS[name]
        seed = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        ratio = s["mean"] / high
        table.add_row(name, *(f"{s[k]:.4f}" for k in ("mean", "p50", "p95", "p99", "max")), seed, f"{ratio:.2f}x of {high:g}")
    console.print(table)
    burst = Table(title=f"{args.concurrency} concurrent cold requests, one key (upstream {args.upstream_slots} slots, "
                        f"{args.delay_ms[0]:g}-{args.delay_ms[1]:g} ms)")
    for col in ("mode", "source runs", "p50 ms", "p99 ms", "max ms"):
        burst.add_column(col, justify="right" if col != "mode" else "left")
    for label, runs, s in bursts:
        burst.add_row(label, str(runs), f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}")
    console.print(burst)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--delay-ms", type=float, nargs=2, default=[20.0, 40.0], help="source delay range")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--upstream-slots", type=int, default=8, help="concurrent calls the upstream accepts")
    asyncio.run(main(parser.parse_args()))
