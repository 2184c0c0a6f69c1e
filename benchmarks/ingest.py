"""Ingest into the DuckLake lake vs DuckDB-alone floors; incremental day; query costs after the move.

    nice python -m benchmarks.ingest [--plays 200000] [--repeat 5]      # --plays 1000000 for the issue's figure

1. Writes an extended-history export of N plays (JSON files of 50 000 records, 2 % repeated).
2. Floors, each in its own process (wall time and peak RSS): DuckDB alone reading the JSON and
   writing (a) one Parquet file, (b) deduplicated plays, one Parquet file per month.
3. ``kasoku ingest`` of the same export into an empty lake (plays + roll-ups, one transaction),
   in its own process: wall time, CPU time, peak RSS, ratios to the floors (wall and CPU).
4. An incremental import of one new day (~150 plays) into that lake: the process's wall time and
   the time spent inside ``ingest()``.
5. Uncached queries at N plays: top_tracks over 12 months on the lake (raw SQL, pinned snapshot)
   vs the same SQL over floor (b)'s month files — the layout the lake had before DuckLake — and
   monthly listening stats through the source (roll-up path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import duckdb  # noqa: E402

EXPORT_SQL = """
    SELECT strftime(TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(CAST((h % 31536000) AS BIGINT)), '%Y-%m-%dT%H:%M:%SZ') AS ts,
           'android' AS platform, CAST(20000 + h % 220000 AS BIGINT) AS ms_played, 'JP' AS conn_country,
           'Track ' || t AS master_metadata_track_name, 'Artist ' || (t * 7919 % 5000) AS master_metadata_album_artist_name,
           'Album ' || (t // 12) AS master_metadata_album_album_name, 'spotify:track:t' || t AS spotify_track_uri,
           'trackdone' AS reason_start, 'trackdone' AS reason_end, h % 3 = 0 AS shuffle, false AS skipped
    FROM (SELECT hash(i % $distinct) AS h, CAST(floor(50000 * pow((hash(i % $distinct) >> 20) % 1000000 / 1e6, 3)) AS INTEGER) AS t
          FROM range($lo, $hi) r(i))"""

FLOOR_A = "COPY (SELECT * FROM read_json({files}, format='array')) TO '{out}' (FORMAT parquet)"
FLOOR_B = """COPY (SELECT * EXCLUDE (rn) FROM (
                 SELECT *, year(CAST(ts AS TIMESTAMPTZ)) AS year, month(CAST(ts AS TIMESTAMPTZ)) AS month,
                        row_number() OVER (PARTITION BY ts, master_metadata_track_name, master_metadata_album_artist_name) AS rn
                 FROM read_json({files}, format='array')) WHERE rn = 1)
             TO '{out}' (FORMAT parquet, PARTITION_BY (year, month))"""

CHILD_INGEST = """
import sys, time, json
sys.path.insert(0, {src!r})
from pathlib import Path
from kasoku.lake.ducklake import Lake
from kasoku.domains.listening.ingest import ingest
t0 = time.perf_counter()
s = ingest(Lake({lake!r}), [Path(p) for p in {files!r}], user_id="me")
print(json.dumps({{"inside_s": time.perf_counter() - t0, "new_plays": s.new_plays, "attempts": s.attempts}}))
"""

CHILD_FLOOR = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute(sys.argv[1])
"""


def run_with_rss(args: list[str]) -> tuple[float, float, str, float]:
    """(wall s, peak RSS MB, stdout, CPU s) of a child process, reaped here to read its rusage
    (ru_maxrss in KB on Linux). CPU seconds (user + system, every thread) say more than wall
    time on a shared machine: they do not grow when other processes take the cores."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {' '.join(args[:3])}")
    return wall, usage.ru_maxrss / 1024, out.decode(), usage.ru_utime + usage.ru_stime


def write_export(directory: Path, n: int, progress: Progress) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    files, chunk = [], 50_000
    task = progress.add_task(f"writing a {n:,}-play export", total=n)
    distinct = int(n * 0.98)  # 2 % of the records repeat an earlier play
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        path = directory / f"Streaming_History_Audio_{lo // chunk}.json"
        con.execute(f"COPY ({EXPORT_SQL}) TO '{path}' (FORMAT json, ARRAY true)", {"lo": lo, "hi": hi, "distinct": distinct})
        files.append(str(path))
        progress.advance(task, hi - lo)
    con.close()
    return files


def one_day(path: Path) -> str:
    records = [{"ts": f"2025-01-15T{h:02d}:{m:02d}:00Z", "ms_played": 180000, "master_metadata_track_name": f"New {h}-{m}",
                "master_metadata_album_artist_name": "Someone", "spotify_track_uri": f"spotify:track:n{h}{m}",
                "platform": "android"} for h in range(24) for m in range(0, 60, 10)]
    path.write_text(json.dumps(records))
    return str(path)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def query_costs(lake_dir: str, floor_b: str, repeat: int) -> dict[str, float]:
    from kasoku.domains.listening.rollup_match import LakeRollups
    from kasoku.domains.listening.snapshots import SnapshotCatalog
    from kasoku.domains.listening.source import ListeningSource
    from kasoku.domains.listening.tools import TOOLS, validate
    from kasoku.engine.types import Query
    from kasoku.lake.duckdb_pool import DuckDBPool
    from kasoku.lake.ducklake import Lake

    lake = Lake(lake_dir)
    pool = DuckDBPool(lake, workers=1)
    out: dict[str, float] = {}
    try:
        catalog = SnapshotCatalog(pool)
        source = ListeningSource(lake, pool, LakeRollups(pool, catalog), catalog)
        params = validate("top_tracks", {"start": "2024-01-01", "end": "2024-12-31", "limit": 10})
        snap = await catalog.current()
        samples = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            await source.raw("top_tracks", params, "me", snap)
            samples.append(time.perf_counter() - t0)
        out["top_tracks lake"] = median_ms(samples[1:])
        # Before DuckLake: the same SQL over month-partitioned Parquet files (read_parquet of the list).
        files = sorted(str(p) for p in Path(floor_b).rglob("*.parquet"))
        renamed = ("(SELECT ts::TIMESTAMPTZ AS played_at, master_metadata_track_name AS track_name, "
                   "master_metadata_album_artist_name AS artist_name, ms_played, 'me' AS user_id "
                   f"FROM read_parquet({files!r}))")
        sql, args = TOOLS["top_tracks"].sql(renamed, params)
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        samples = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            con.execute(sql, ["me", *args]).fetchall()
            samples.append(time.perf_counter() - t0)
        con.close()
        out["top_tracks parquet files (before)"] = median_ms(samples[1:])
        query = Query("listening", "listening_stats", {"granularity": "month", "start": "2024-01-01", "end": "2024-12-31"}, "me")
        samples = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            result = await source.run(query)
            samples.append(time.perf_counter() - t0)
        assert result.source == "rollup"
        out["monthly stats (roll-up), first"] = samples[0] * 1000
        out["monthly stats (roll-up), next"] = median_ms(samples[1:])
        # Before rollup_match.months_answer: the same statement run by DuckDB over the in-memory rows.
        matcher = LakeRollups(pool, catalog)
        stats = validate("listening_stats", dict(query.params))
        plan = await matcher.plan("listening_stats", stats, "me", snap)
        assert plan is not None and plan.answer is not None
        samples = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            before = await catalog.query(snap, plan.table, plan.template, plan.args)
            samples.append(time.perf_counter() - t0)
        assert before.equals(plan.answer)
        out["monthly stats, statement over in-memory rows (before)"] = median_ms(samples[1:])
    finally:
        pool.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plays", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    console = Console(width=140)
    rows: list[tuple[str, float, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="kasoku-ingest-") as tmp, Progress(console=console, transient=True) as progress:
        base = Path(tmp)
        files = write_export(base / "export", opts.plays, progress)
        task = progress.add_task("floors and ingest (each in its own process)", total=4)
        file_list = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        a = run_with_rss([sys.executable, "-c", CHILD_FLOOR, FLOOR_A.format(files=file_list, out=base / "a.parquet")])
        rows.append(("floor (a): DuckDB JSON -> one Parquet file", a[0], a[3], a[1], ""))
        progress.advance(task)
        b = run_with_rss([sys.executable, "-c", CHILD_FLOOR, FLOOR_B.format(files=file_list, out=base / "b")])
        rows.append(("floor (b): DuckDB JSON -> deduped plays, a file per month", b[0], b[3], b[1], ""))
        progress.advance(task)
        lake_dir = str(base / "lake")
        k = run_with_rss([sys.executable, "-c", CHILD_INGEST.format(src=str(ROOT / "src"), lake=lake_dir, files=files)])
        info = json.loads(k[2].strip().splitlines()[-1])
        rows.append(("kasoku ingest (plays + roll-ups, one transaction)", k[0], k[3], k[1],
                     f"wall {k[0] / a[0]:.1f}x (a), {k[0] / b[0]:.1f}x (b); CPU {k[3] / a[3]:.1f}x (a), "
                     f"{k[3] / b[3]:.1f}x (b); {info['new_plays']:,} plays, "
                     f"{info['new_plays'] / k[0]:,.0f} plays/s; inside ingest() {info['inside_s']:.1f} s"))
        progress.advance(task)
        day = one_day(base / "Streaming_History_Audio_day.json")
        d = run_with_rss([sys.executable, "-c", CHILD_INGEST.format(src=str(ROOT / "src"), lake=lake_dir, files=[day])])
        day_info = json.loads(d[2].strip().splitlines()[-1])
        rows.append(("incremental: one new day (144 plays), whole process", d[0], d[3], d[1],
                     f"inside ingest() {day_info['inside_s'] * 1000:.0f} ms"))
        progress.advance(task)
        costs = asyncio.run(query_costs(lake_dir, str(base / "b"), opts.repeat))
    table = Table(title=f"ingest of {opts.plays:,} plays (extended export), load avg {os.getloadavg()[0]:.1f}")
    for col in ("what", "wall s", "CPU s", "peak RSS MB", "ratio / notes"):
        table.add_column(col, justify="left" if col in ("what", "ratio / notes") else "right")
    for what, wall, cpu, rss, note in rows:
        table.add_row(what, f"{wall:.2f}", f"{cpu:.2f}", f"{rss:.0f}", note)
    console.print(table)
    q = Table(title=f"uncached queries at {opts.plays:,} plays (median of {opts.repeat}, ms)")
    q.add_column("query")
    q.add_column("ms", justify="right")
    for name, ms in costs.items():
        q.add_row(name, f"{ms:.2f}")
    before = costs["top_tracks parquet files (before)"]
    q.add_row("top_tracks lake / before", f"{costs['top_tracks lake'] / before:.2f}x")
    console.print(q)


if __name__ == "__main__":
    main()
