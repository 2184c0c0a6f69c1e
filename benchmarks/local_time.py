"""Answers in the listener's zone: any-zone roll-ups vs raw plays, at 1 M plays over 5 years.

    python -m benchmarks.local_time [--plays 1000000] [--repeat 20] [--raw-repeat 5] [--lake DIR]

Plays come from the demo generator (domains/listening/demo.py: 5 000 tracks, Zipf-like
popularity, 20 % skips under 30 s), committed month by month with every roll-up built as ingest
builds it; the lake is kept under ``.kasoku/bench-local-time-<plays>/`` and reused. Then, each
uncached (the source directly, no engine cache), p50 and p95 over ``--repeat`` runs:

- year in review (the last whole year), Asia/Tokyo, min_ms 0 and 30000
- all-time overview, Asia/Tokyo
- top tracks over a random day-aligned range, Asia/Tokyo (a new range each run)
- hourly pattern over a random day-aligned range, Asia/Kathmandu (+05:45)

against the same answer computed from raw plays in the same run, and against the same roll-up
plan read from the DuckLake roll-up tables instead of the in-memory play index (play_index.py;
``--no-tables`` skips that column); every answer is checked equal to raw. Also printed: the time
to build the play index (paid by the first request after each new snapshot) and its size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from kasoku.domains.listening.demo import demo_plays_table
from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.rollup_match import LakeRollups
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import ListeningSource
from kasoku.domains.listening.tools import RangeParams, validate
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake

END = date(2026, 10, 31)


def build_lake(path: str, plays: int, console: Console) -> Lake:
    lake = Lake(path)
    if os.path.exists(os.path.join(path, "catalog.sqlite")):
        return lake
    t0 = time.perf_counter()
    table = demo_plays_table(plays, years=5, end=END)
    console.print(f"generated {table.num_rows:,} plays in {time.perf_counter() - t0:.1f} s")
    keys = pc.strftime(table["played_at"], format="%Y-%m")
    months = sorted(set(keys.to_pylist()))
    t0 = time.perf_counter()
    for i in range(0, len(months), 6):  # half a year per commit
        batch = [table.filter(pc.equal(keys, m)) for m in months[i:i + 6]]
        import_tables(lake, pa.concat_tables(batch))  # one ingest transaction, roll-ups included
    console.print(f"committed {len(months)} months with roll-ups in {time.perf_counter() - t0:.1f} s")
    return lake


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(lake: Lake, cases: dict[str, Callable[[random.Random], tuple[str, RangeParams]]], repeat: int,
                  raw_repeat: int, tables: bool, console: Console) -> list[tuple[str, str, float, float, float | None, float, float]]:
    pool = DuckDBPool(lake, workers=1, query_timeout=600)
    catalog = SnapshotCatalog(pool)
    source, rollups = ListeningSource(lake, pool, catalog=catalog), LakeRollups(pool, catalog)
    from_tables = LakeRollups(pool, catalog, memory=False)
    snap = await catalog.current()
    indexes = rollups.zones.indexes
    assert indexes is not None
    t0 = time.perf_counter()
    index = await indexes.get(snap, "me")
    assert index is not None
    console.print(f"play index built in {time.perf_counter() - t0:.2f} s (first indexed request of a snapshot), "
                  f"{index.nbytes / 1e6:.0f} MB, {index.n_keys:,} keys, {len(index.months.month):,} month rows")
    out = []
    try:
        for name, make in cases.items():
            rng = random.Random(name)
            roll_ms: list[float] = []
            table_ms: list[float] = []
            raw_ms: list[float] = []
            used = set()
            for i in range(repeat + 1):
                tool, params = make(rng)
                plan = await rollups.plan(tool, params, "me", snap)
                used.add(plan.table if plan is not None else "raw")
                t0 = time.perf_counter()
                got = await rollups.answer(tool, params, "me", snap)
                if i:
                    roll_ms.append((time.perf_counter() - t0) * 1000)
                if i <= raw_repeat:
                    t0 = time.perf_counter()
                    expected = await source.raw(tool, params, "me", snap)
                    if i:
                        raw_ms.append((time.perf_counter() - t0) * 1000)
                    if got is None or not got.equals(expected):
                        raise AssertionError(f"{name}: the roll-up answer differs from raw for {params!r}")
                    if tables:
                        t0 = time.perf_counter()
                        old = await from_tables.answer(tool, params, "me", snap)
                        if i:
                            table_ms.append((time.perf_counter() - t0) * 1000)
                        if old is None or not old.equals(expected):
                            raise AssertionError(f"{name}: the DuckLake roll-up answer differs from raw for {params!r}")
            out.append((name, "+".join(sorted(used)), statistics.median(roll_ms), pct(roll_ms, 0.95),
                        statistics.median(table_ms) if table_ms else None, statistics.median(raw_ms), pct(raw_ms, 0.95)))
    finally:
        pool.close()
    return out


def random_range(rng: random.Random, tz: str, tool: str, **extra: Any) -> tuple[str, RangeParams]:
    first = END - timedelta(days=5 * 365 - 1)
    a = first + timedelta(days=rng.randrange(5 * 365 - 10))
    b = min(END, a + timedelta(days=rng.randrange(1, 400)))
    return tool, validate(tool, {"start": a.isoformat(), "end": b.isoformat(), "tz": tz, **extra})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="roll-up runs per case (p50/p95)")
    parser.add_argument("--raw-repeat", type=int, default=5, help="raw runs per case (each checked equal)")
    parser.add_argument("--lake", default=None, help="lake directory (default .kasoku/bench-local-time-<plays>)")
    parser.add_argument("--no-tables", action="store_true", help="skip the DuckLake roll-up tables column")
    args = parser.parse_args()
    console = Console()
    lake = build_lake(args.lake or os.path.join(".kasoku", f"bench-local-time-{args.plays}"), args.plays, console)
    year = END.year - 1
    cases: dict[str, Callable[[random.Random], tuple[str, RangeParams]]] = {
        f"year in review {year}, Asia/Tokyo": lambda r: ("year_in_review", validate("year_in_review", {"year": year, "tz": "Asia/Tokyo"})),
        f"year in review {year}, Asia/Tokyo, min_ms 30000": lambda r: (
            "year_in_review", validate("year_in_review", {"year": year, "tz": "Asia/Tokyo", "min_ms": 30000})),
        f"year in review {year}, UTC": lambda r: ("year_in_review", validate("year_in_review", {"year": year, "tz": "UTC"})),
        "all-time overview, Asia/Tokyo": lambda r: ("overview", validate("overview", {"tz": "Asia/Tokyo"})),
        "top tracks, random days, Asia/Tokyo": lambda r: random_range(r, "Asia/Tokyo", "top_tracks", limit=10),
        "hourly pattern, random days, Asia/Kathmandu": lambda r: random_range(r, "Asia/Kathmandu", "hourly_pattern"),
    }
    load_before = os.getloadavg()
    rows = asyncio.run(measure(lake, cases, args.repeat, args.raw_repeat, not args.no_tables, console))
    load_after = os.getloadavg()
    table = Table(title=f"any-zone roll-ups vs raw at {args.plays:,} plays over 5 years (uncached, ms)")
    for col in ("query", "answered from", "rollup p50", "rollup p95", "DuckLake tables p50", "raw p50", "raw p95",
                "speed-up (p50)", "raw p50 / rollup p95"):
        table.add_column(col, justify="left" if col in ("query", "answered from") else "right")
    for name, used, r50, r95, t50, w50, w95 in rows:
        table.add_row(name, used, f"{r50:.1f}", f"{r95:.1f}", "-" if t50 is None else f"{t50:.1f}", f"{w50:.1f}",
                      f"{w95:.1f}", f"{w50 / r50:.1f}x", f"{w50 / r95:.1f}x")
    console.print(table)
    console.print(f"load average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}; "
                  f"after {', '.join(f'{x:.2f}' for x in load_after)} (a shared machine: compare within the run)")
    console.print("every roll-up answer was checked equal to the raw answer of the same parameters")


if __name__ == "__main__":
    main()
