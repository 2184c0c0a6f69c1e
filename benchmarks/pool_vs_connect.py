"""Seed B3: a new DuckDB connection per request (the original system) vs the pooled cursor.

Per request the original system connected, loaded httpfs, created the S3 secret and ran
the query. The pool does that once per process. Measured on a local lake and on an S3 API
(moto in server mode on loopback) with the same top-tracks query over 12 months.

    python benchmarks/pool_vs_connect.py [--plays 1000000] [--iterations 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import boto3  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.lakes import generate_plays, write_lake  # noqa: E402
from benchmarks.stats import summary_ms  # noqa: E402
from kasoku.domains.listening.tools import TOOLS, validate  # noqa: E402
from kasoku.domains.listening.tables import PLAYS, ref  # noqa: E402
from kasoku.lake.duckdb_pool import DuckDBPool, open_connection  # noqa: E402
from kasoku.lake.ducklake import Lake, S3Options  # noqa: E402
from tests.services import MotoServer  # noqa: E402


def per_request(lake: Lake, sql: str, args: list[object]) -> None:
    """What the original system did for every request: a new database, extensions, secret, attach, query."""
    con = open_connection(lake)
    try:
        con.execute(sql, args).fetchall()
    finally:
        con.close()


def measure(lake: Lake, iterations: int, progress: Progress, label: str) -> tuple[dict[str, float], dict[str, float]]:
    params = validate("top_tracks", {"start": "2024-01-01", "end": "2024-12-31", "limit": 10})
    sql, args = TOOLS["top_tracks"].sql(ref(PLAYS), params)
    args = ["me", *args]
    task = progress.add_task(f"{label}: per-request connection", total=iterations + 2)
    base = []
    for i in range(iterations + 2):
        t = time.perf_counter()
        per_request(lake, sql, args)
        if i >= 2:
            base.append(time.perf_counter() - t)
        progress.advance(task)
    pool = DuckDBPool(lake, workers=1, query_timeout=120)
    task = progress.add_task(f"{label}: pooled cursor", total=iterations + 2)
    pooled = []
    try:
        for i in range(iterations + 2):
            t = time.perf_counter()
            pool.run_sync(lambda cur: cur.execute(sql, args).fetchall())
            if i >= 2:
                pooled.append(time.perf_counter() - t)
            progress.advance(task)
    finally:
        pool.close()
    return summary_ms(base), summary_ms(pooled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=30)
    opts = parser.parse_args()
    console = Console(width=150)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        plays = generate_plays(opts.plays)
        local = Lake(str(Path(tmp) / "lake"))
        write_lake(local, plays, progress, "local lake")
        rows.append(("local", *measure(local, opts.iterations, progress, "local")))
        moto = MotoServer()
        moto.start()
        try:
            ep = moto.endpoint
            boto3.client("s3", endpoint_url=ep.endpoint_url, aws_access_key_id=ep.access_key_id,
                         aws_secret_access_key=ep.secret_access_key, region_name=ep.region).create_bucket(Bucket="bench")
            s3 = S3Options(endpoint=ep.endpoint, access_key_id=ep.access_key_id, secret_access_key=ep.secret_access_key,
                           region=ep.region, url_style="path", use_ssl=False)
            remote = Lake("s3://bench/lake", s3, catalog=str(Path(tmp) / "s3-catalog.sqlite"))
            write_lake(remote, plays, progress, "S3 lake (moto)")
            rows.append(("S3 (moto, loopback)", *measure(remote, opts.iterations, progress, "s3")))
        finally:
            moto.close()
    table = Table(title=f"top_tracks over 12 months, {opts.plays:,} plays, {opts.iterations} iterations (ms)")
    for col in ("lake", "mode", "mean", "p50", "p95", "min", "max", "per-request / pooled"):
        table.add_column(col, justify="right")
    for lake_name, base, pooled in rows:
        table.add_row(lake_name, "connect+extensions+attach per request", *(f"{base[k]:.1f}" for k in ("mean", "p50", "p95", "min", "max")), "")
        table.add_row("", "pooled cursor", *(f"{pooled[k]:.1f}" for k in ("mean", "p50", "p95", "min", "max")),
                      f"{base['mean'] / pooled['mean']:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
