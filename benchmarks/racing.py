"""Racing figures: JV-Data parse throughput, and the original racing service's latency table measured.

1. Parse throughput: records/s per record type, on records made by the builder (the demo's).
2. Latency of one realtime odds page (0B31, one race) through the engine, as the seed's table
   has it: L1 hit (seed: 0.01 ms), L2 hit (seed: 1-2 ms; needs Redis — set
   KASOKU_BENCH_REDIS_URL, otherwise the row says skipped), miss (seed: 20-40 ms for a COM
   call) — with the file client as is, and with an artificial 20-40 ms upstream delay (the
   FileClient's ``delay``) to mimic COM. Also the L1 hit over HTTP (ASGI, no socket), since a
   client sees that, not the dictionary lookup.

    PYTHONPATH=src python -m benchmarks.racing [--iterations 300] [--misses 60]

Prints figures; asserts nothing about wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.domains.racing.clients.files import FileClient
from kasoku.domains.racing.demo import build_demo_archive, generate
from kasoku.domains.racing.domain import RacingDomain
from kasoku.domains.racing.records import parse_record, record_type_of
from kasoku.domains.racing.source import page_query
from kasoku.engine.engine import Engine

SEED_MS = {"L1 hit": (0.01, 0.01), "L2 hit": (1.0, 2.0), "miss": (20.0, 40.0)}


def parse_throughput(seconds_per_type: float = 0.3) -> list[tuple[str, int, float]]:
    demo = generate()
    by_type: dict[str, list[bytes]] = {}
    for records in demo.files.values():
        for raw in records:
            by_type.setdefault(record_type_of(raw), []).append(raw)
    rows = []
    for rtype in sorted(by_type):
        sample = by_type[rtype][:200]
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds_per_type:
            for raw in sample:
                parse_record(raw)
            done += len(sample)
        elapsed = time.perf_counter() - started
        rows.append((rtype, len(sample[0]), done / elapsed))
    return rows


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered)) - 1
    return ordered[max(0, min(len(ordered) - 1, rank))]


async def timed(fn: Callable[[], Awaitable[Any]], n: int, before: Callable[[], Any] | None = None) -> list[float]:
    out = []
    for _ in range(n):
        if before is not None:
            done = before()
            if asyncio.iscoroutine(done):
                await done
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def latency(archive: Path, *, delay: tuple[float, float] | None, iterations: int, misses: int,
                  redis_url: str | None) -> dict[str, list[float] | str]:
    settings = Settings(lake=str(archive.parent / "lake"), racing_archive=str(archive), redis_url=redis_url)
    client = FileClient(archive, delay=delay)
    domain = RacingDomain(settings, client=client, prefetch_max_races=0)
    engine = Engine(l1_bytes=settings.cache_l1_bytes)
    app = create_app(settings, [domain], engine=engine)
    race = generate().race_ids[0]
    query = page_query("0B31", key=race)
    out: dict[str, list[float] | str] = {}
    async with app.router.lifespan_context(app):
        # a true miss: drop the page and its fetch from L1 *and* L2 (the dataset's tag) first
        out["miss"] = await timed(lambda: engine.get(query), misses,
                                  before=lambda: engine.invalidate(dataset=query.dataset))
        await engine.get(query)
        out["L1 hit"] = await timed(lambda: engine.get(query), iterations)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bench") as http:
            path = f"/api/v1/realtime/odds/{race}?type=win"
            await http.get(path)
            out["L1 hit (HTTP, ASGI)"] = await timed(lambda: http.get(path), iterations)
        if engine.l2 is None:
            out["L2 hit"] = "skipped: no KASOKU_BENCH_REDIS_URL"
        else:
            await asyncio.sleep(0.3)  # L2 writes are fire-and-forget: let the first one land
            tiers: list[str] = []

            async def from_l2() -> None:
                tiers.append((await engine.get(query)).tier)

            out["L2 hit"] = await timed(from_l2, iterations, before=engine.l1.clear)
            if set(tiers) != {"l2"}:
                out["L2 hit"] = f"not measured: answers came from {sorted(set(tiers))}"
    return out


def show(label: str, figures: dict[str, list[float] | str]) -> None:
    print(f"\n{label}")
    print(f"  {'path':<22} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9}   vs seed")
    for name, values in figures.items():
        if isinstance(values, str):
            print(f"  {name:<22} {values}")
            continue
        mean, p50, p99 = statistics.fmean(values), percentile(values, 50), percentile(values, 99)
        seed = SEED_MS.get(name.split(" (")[0])
        ratio = ""
        if seed is not None:
            lo, hi = seed
            ratio = (f"seed {lo:g} ms: x{mean / lo:.2f}" if lo == hi
                     else f"seed {lo:g}-{hi:g} ms: x{mean / hi:.2f}-x{mean / lo:.2f}")
        print(f"  {name:<22} {mean:>9.3f} {p50:>9.3f} {p99:>9.3f}   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--misses", type=int, default=60)
    args = parser.parse_args()
    print("JV-Data parse throughput (builder-made records, one thread)")
    print(f"  {'type':<5} {'bytes':>7} {'records/s':>12} {'MB/s':>8}")
    for rtype, size, rate in parse_throughput():
        print(f"  {rtype:<5} {size:>7} {rate:>12,.0f} {rate * size / 1e6:>8.1f}")
    redis_url = os.environ.get("KASOKU_BENCH_REDIS_URL")
    with tempfile.TemporaryDirectory() as tmp:
        archive = build_demo_archive(Path(tmp)).archive
        for label, delay in (("file client, no delay", None), ("file client, 20-40 ms delay (mimics COM)", (0.02, 0.04))):
            figures = asyncio.run(latency(archive, delay=delay, iterations=args.iterations, misses=args.misses,
                                          redis_url=redis_url))
            show(f"Latency of one 0B31 odds page through the engine — {label}", figures)


if __name__ == "__main__":
    main()
