"""Roll-ups vs full scan + GROUP BY, at 1 M and 10 M plays.

    python -m benchmarks.rollups [--sizes 1000000 10000000] [--repeat 5]

Plays are generated straight into Parquet month partitions by DuckDB (one user, 12 months of
2024, Zipf-like popularity over 50 000 tracks / 5 000 artists), one month at a time so 10 M
rows stay well inside memory. For each size it prints, per query and range (1, 3, 12 months):
raw ms (the tool's SQL over the DuckLake plays table, B1+B2 already applied), roll-up ms, the
ratio, and for 3/12 months the roll-up time when windows are not materialised (summing the
monthly full counts). Every roll-up answer is checked equal to the raw answer. Also: twelve
monthly ingest transactions with and without roll-ups, and bytes on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import duckdb
import pyarrow as pa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kasoku.domains.listening import rollup_build as rb
from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.rollup_match import LakeRollups
from kasoku.domains.listening.schema import PLAYS_SCHEMA
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import ListeningSource
from kasoku.domains.listening.tools import validate
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
RANGES = {1: ("2024-06-01", "2024-06-30"), 3: ("2024-04-01", "2024-06-30"), 12: ("2024-01-01", "2024-12-31")}
QUERIES: dict[str, dict[str, Any]] = {"top_tracks": {"limit": 10}, "top_artists": {"limit": 10},
                                      "stats(month)": {"granularity": "month"}, "stats(day)": {"granularity": "day"}}
TOOL = {"stats(month)": "listening_stats", "stats(day)": "listening_stats"}

MONTH_SQL = """
    SELECT printf('%016x', $seed * 100000000 + i) AS play_id, 'me' AS user_id,
           $start::TIMESTAMPTZ + to_microseconds(CAST(random() * $span AS BIGINT)) AS played_at,
           CAST(20000 + random() * 220000 AS BIGINT) AS ms_played,
           'spotify:track:' || t AS track_id, 'Track ' || t AS track_name, 'Artist ' || (t * 7919 % 5000) AS artist_name,
           'Album ' || (t // 12) AS album_name, 'android' AS platform, 'JP' AS country, 'trackdone' AS reason_start,
           'trackdone' AS reason_end, false AS shuffle, false AS skipped, 'extended' AS source
    FROM (SELECT i, CAST(floor(50000 * pow(random(), 3)) AS INTEGER) AS t FROM range($n) r(i))"""


def month_plays(con: duckdb.DuckDBPyConnection, month: str, n: int, seed: int) -> pa.Table:
    start = f"{month}-01 00:00:00+00"
    y, m = int(month[:4]), int(month[5:])
    nxt = f"{y + m // 12:04d}-{m % 12 + 1:02d}-01 00:00:00+00"
    span = con.execute("SELECT epoch_us($b::TIMESTAMPTZ) - epoch_us($a::TIMESTAMPTZ)", {"a": start, "b": nxt}).fetchone()
    con.execute(f"SELECT setseed({(seed % 1000) / 1000.0})")
    t = con.execute(MONTH_SQL, {"seed": seed, "start": start, "span": int(span[0]) - 1 if span else 0, "n": n}).to_arrow_table()
    return t.cast(PLAYS_SCHEMA)


def dir_bytes(root: str, prefixes: tuple[str, ...]) -> int:
    total = 0
    root = os.path.join(root, "data", "main")
    for top in os.listdir(root):
        if top.startswith(prefixes):
            for dirpath, _, files in os.walk(os.path.join(root, top)):
                total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total


async def timed(fn: Callable[[], Awaitable[pa.Table | None]], repeat: int) -> tuple[float, pa.Table | None]:
    out = await fn()  # warm-up (file metadata, OS cache)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), out


async def measure(lake: Lake, repeat: int, progress: Progress) -> list[tuple[str, int, float, float, float | None]]:
    pool = DuckDBPool(lake, workers=1, query_timeout=600)
    try:
        catalog = SnapshotCatalog(pool)
        source = ListeningSource(lake, pool, catalog=catalog)
        with_windows, summed = LakeRollups(pool, catalog), LakeRollups(pool, catalog, windows=False)
        snap = await catalog.current()
        rows = []
        task = progress.add_task("queries", total=len(QUERIES) * len(RANGES))
        for name, extra in QUERIES.items():
            tool = TOOL.get(name, name)
            for months, (start, end) in RANGES.items():
                params = validate(tool, {"start": start, "end": end, **extra})
                raw_ms, raw = await timed(lambda: source.raw(tool, params, "me", snap), repeat)
                roll_ms, roll = await timed(lambda: with_windows.answer(tool, params, "me", snap), repeat)
                if roll is None or raw is None or not roll.equals(raw):
                    raise AssertionError(f"roll-up answer differs from raw for {name} over {months} months")
                sum_ms = None
                if tool.startswith("top_") and months in rb.WINDOWS:
                    sum_ms, summed_out = await timed(lambda: summed.answer(tool, params, "me", snap), repeat)
                    if summed_out is None or not summed_out.equals(raw):
                        raise AssertionError(f"summed roll-up differs from raw for {name} over {months} months")
                rows.append((name, months, raw_ms, roll_ms, sum_ms))
                progress.advance(task)
        return rows
    finally:
        pool.close()


def run(size: int, repeat: int, console: Console) -> None:
    per_month = size // len(MONTHS)
    with tempfile.TemporaryDirectory(prefix="kasoku-rollups-") as tmp, Progress(console=console, transient=True) as progress:
        plain, rolled = Lake(os.path.join(tmp, "plain")), Lake(os.path.join(tmp, "rolled"))
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        gen = progress.add_task(f"generating {size:,} plays", total=len(MONTHS))
        ingest_plain = ingest_rolled = 0.0
        for i, month in enumerate(MONTHS):  # one month per commit, like twice-daily ingests over a year
            plays = month_plays(con, month, per_month, seed=i + 1)
            t0 = time.perf_counter()
            import_tables(plain, plays, rollups=rb.RollupBuilder(drop_only=True))
            ingest_plain += time.perf_counter() - t0
            t0 = time.perf_counter()
            import_tables(rolled, plays)
            ingest_rolled += time.perf_counter() - t0
            progress.advance(gen)
        con.close()
        rows = asyncio.run(measure(rolled, repeat, progress))
        plays_bytes = dir_bytes(os.path.join(tmp, "rolled"), ("plays",))
        rollup_bytes = dir_bytes(os.path.join(tmp, "rolled"), ("rollup_",))
        per_table = {t: dir_bytes(os.path.join(tmp, "rolled"), (t,)) for t in rb.ALL_TABLES}

    table = Table(title=f"roll-up vs raw at {size:,} plays (median of {repeat}, ms)")
    for col in ("query", "months", "raw ms", "rollup ms", "ratio", "summed-months ms", "ratio (summed)"):
        table.add_column(col, justify="left" if col == "query" else "right")
    for name, months, raw_ms, roll_ms, sum_ms in rows:
        table.add_row(name, str(months), f"{raw_ms:.1f}", f"{roll_ms:.2f}", f"{raw_ms / roll_ms:.0f}x",
                      "-" if sum_ms is None else f"{sum_ms:.2f}", "-" if sum_ms is None else f"{raw_ms / sum_ms:.0f}x")
    console.print(table)
    console.print(f"ingest transactions, 12 monthly ingests: plays only {ingest_plain:.2f} s; with roll-ups "
                  f"{ingest_rolled:.2f} s = {ingest_rolled / ingest_plain:.2f}x")
    console.print(f"bytes on disk: plays {plays_bytes:,}; roll-ups {rollup_bytes:,} "
                  f"({100 * rollup_bytes / plays_bytes:.1f} % of plays)")
    console.print("  " + ", ".join(f"{t.removeprefix('rollup_')} {b:,}" for t, b in per_table.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    console = Console(width=150)
    for size in args.sizes:
        run(size, args.repeat, console)


if __name__ == "__main__":
    main()
