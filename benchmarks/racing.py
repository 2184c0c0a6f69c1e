"""Racing figures: JV-Data decode throughput, and the original racing service's latency table measured.

1. Decode throughput: records/s per layout (38 types + 7 older layouts) on full records made
   by the builder, per record (``parse_record``) and vectorised (``columnar.decode_table``);
   then a full RACE day of the demo both ways.
2. Latency of one realtime odds page (0B31, one race) through the engine, as the seed's table
   has it: L1 hit (seed: 0.01 ms), L2 hit (seed: 1-2 ms; needs Redis — set
   KASOKU_BENCH_REDIS_URL, otherwise the row says skipped), miss (seed: 20-40 ms for a COM
   call) — with the lake client as is, and with an artificial 20-40 ms upstream delay (the
   LakeClient's ``delay``) to mimic COM. Also the L1 hit over HTTP (ASGI, no socket), since a
   client sees that, not the dictionary lookup.

    PYTHONPATH=src:. python -m benchmarks.racing [--iterations 300] [--misses 60] [--decode-only]

Prints figures; asserts nothing about wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.jvdata_fill import full_record
from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.domains.racing.columnar import decode_table, decode_tables
from kasoku.domains.racing.demo import RACE_DAYS, generate, import_demo_lake
from kasoku.domains.racing.domain import RacingDomain
from kasoku.domains.racing.fields import Group
from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS
from kasoku.domains.racing.records import parse_record, race_key_of
from kasoku.domains.racing.source import page_query
from kasoku.engine.engine import Engine
from kasoku.lake.ducklake import Lake

SEED_MS = {"L1 hit": (0.01, 0.01), "L2 hit": (1.0, 2.0), "miss": (20.0, 40.0)}


def _rate(fn: Callable[[], Any], count: int, seconds: float) -> float:
    """Records per second of ``fn`` (which decodes ``count`` records), repeated for ``seconds``.

    One call first, unmeasured: the process's first Arrow kernel calls (function registry, numpy
    and pyarrow warm-up) cost ~0.3 s once, which a short window would charge to whichever
    layout comes first (it made RA look slower than O1)."""
    return _rates(fn, count, seconds)[0]


def _rates(fn: Callable[[], Any], count: int, seconds: float) -> tuple[float, float]:
    """(records per second of wall time, of this process's CPU time): on a shared machine the
    second is what the decoder costs, the first also holds the time other processes had the CPU."""
    fn()
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        done += count
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed, done / max(time.process_time() - cpu, 1e-9)


def decode_throughput(seconds: float) -> list[tuple[str, int, float, float, float, float]]:
    """(layout, bytes, dict records/s, vectorised records/s, vectorised records per CPU second,
    vectorised scalars-only records/s) per layout, on full records (every slot of every group
    filled: the worst case)."""
    rng = random.Random(7)
    rows = []
    layouts = [*LAYOUTS.values(), *LEGACY_LAYOUTS.values()]
    for layout in layouts:
        records = [full_record(layout, rng) for _ in range(4)]
        batch = records * max(1, min(2000, 2_000_000 // layout.length) // len(records))
        scalars = [item.name for item in layout.items if not isinstance(item, Group) and item.count == 1]
        one = _rate(lambda: [parse_record(r) for r in records], len(records), seconds / 3)
        many, cpu = _rates(lambda: decode_table(batch, layout), len(batch), seconds / 3)
        lazy = _rate(lambda: decode_table(batch, layout, columns=scalars), len(batch), seconds / 3)
        name = layout.record_type + (f"_{layout.variant}" if layout.variant else "")
        rows.append((name, layout.length, one, many, cpu, lazy))
    return rows


def demo_throughput(seconds: float) -> list[tuple[str, int, float, float]]:
    """(type, records in a batch, dict records/s, vectorised records/s) on the demo's records:
    realistic fill (10-16 runners, so an O6 holds 720-3,360 of its 4,896 slots)."""
    demo = generate()
    by_type: dict[str, list[bytes]] = {}
    for records in demo.files.values():
        for raw in records:
            by_type.setdefault(raw[:2].decode(), []).append(raw)
    rows = []
    for rtype, raws in sorted(by_type.items()):
        layout = LAYOUTS[rtype]
        one = _rate(lambda: [parse_record(r) for r in raws[:50]], len(raws[:50]), seconds / 2)
        many = _rate(lambda: decode_table(raws, layout), len(raws), seconds / 2)
        rows.append((rtype, len(raws), one, many))
    return rows


def race_day(seconds: float) -> tuple[int, int, float, float, float]:
    """A full RACE day of the demo plus its realtime odds (O1-O6) and weights: (records, bytes,
    seconds per day with parse_record, with decode_tables, CPU seconds with decode_tables)."""
    demo = generate()
    day = RACE_DAYS[0]
    raws = [r for spec in ("RACE", "0B11", "0B33", "0B34", "0B35", "0B36") for r in demo.files[spec]
            if race_key_of(r) is None or race_key_of(r)[:8] == day]
    one = _rate(lambda: [parse_record(r) for r in raws], len(raws), seconds)
    many, cpu = _rates(lambda: decode_tables(raws), len(raws), seconds)
    return len(raws), sum(map(len, raws)), len(raws) / one, len(raws) / many, len(raws) / cpu


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


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


async def latency(lake: Lake, *, delay: tuple[float, float] | None, iterations: int, misses: int,
                  redis_url: str | None) -> dict[str, list[float] | str]:
    settings = Settings(lake=lake.url, redis_url=redis_url)
    client = LakeClient(lake, delay=delay)
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
    parser.add_argument("--seconds", type=float, default=0.6, help="time per decode measurement")
    parser.add_argument("--decode-only", action="store_true", help="decode figures only, no latency table")
    args = parser.parse_args()
    print(f"load average before: {_load()}")
    print("JV-Data decode throughput, one thread, full records (every group slot filled: the worst case)")
    print("  dict = parse_record per record (the API's pages); vectorised = columnar.decode_table over a batch;")
    print("  cpu = vectorised per second of this process's CPU time (the machine may be shared);")
    print("  scalars = decode_table(columns=<every non-repeated field>), the rest left undecoded")
    print(f"  {'layout':<9} {'bytes':>7} {'dict rec/s':>11} {'vector rec/s':>13} {'x dict':>7} {'cpu rec/s':>10}"
          f" {'scalars rec/s':>14} {'vector MB/s':>12}")
    below, below_cpu = [], []
    for name, size, one, many, cpu, lazy in decode_throughput(args.seconds):
        print(f"  {name:<9} {size:>7} {one:>11,.0f} {many:>13,.0f} {many / one:>7.1f} {cpu:>10,.0f}"
              f" {lazy:>14,.0f} {many * size / 1e6:>12.1f}")
        if many < 20_000:
            below.append(name)
        if cpu < 20_000:
            below_cpu.append(name)
    print(f"  below 20k records/s fully decoded: {', '.join(below) or 'none'}"
          f" (per CPU second: {', '.join(below_cpu) or 'none'})")
    print("\nThe demo's records (realistic fill: 10-16 runners), per type")
    print(f"  {'type':<5} {'records':>8} {'dict rec/s':>11} {'vector rec/s':>13} {'x dict':>7}")
    for rtype, count, one, many in demo_throughput(args.seconds):
        print(f"  {rtype:<5} {count:>8} {one:>11,.0f} {many:>13,.0f} {many / one:>7.1f}")
    records, size, one, many, cpu = race_day(args.seconds)
    print(f"\nA full race day of the demo (RACE + realtime O1-O6 and WH of 16 races): {records} records, "
          f"{size / 1e6:.1f} MB")
    print(f"  parse_record: {one * 1000:.0f} ms ({records / one:,.0f} records/s)")
    print(f"  decode_tables: {many * 1000:.0f} ms ({records / many:,.0f} records/s), x{one / many:.1f};"
          f" {cpu * 1000:.0f} ms of CPU ({records / cpu:,.0f} records per CPU second)")
    print(f"load average after: {_load()}")
    if args.decode_only:
        return
    redis_url = os.environ.get("KASOKU_BENCH_REDIS_URL")
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(str(Path(tmp) / "lake"))
        import_demo_lake(lake)
        for label, delay in (("lake client, no delay", None), ("lake client, 20-40 ms delay (mimics COM)", (0.02, 0.04))):
            figures = asyncio.run(latency(lake, delay=delay, iterations=args.iterations, misses=args.misses,
                                          redis_url=redis_url))
            show(f"Latency of one 0B31 odds page through the engine — {label}", figures)


if __name__ == "__main__":
    main()
