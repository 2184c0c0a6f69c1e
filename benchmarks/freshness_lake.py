"""Freshness on the real lake: from an ingest's commit to the first request on a server that sees it.

Two ``kasoku serve`` processes (real uvicorn, separate processes, no Redis, no admin token,
no notify) on one DuckLake lake (SQLite catalog + Parquet under a temporary directory). Each
round: both servers have the month's top tracks cached (a second request is an L1 hit), an
ingest in this process commits one new play of a new track into that month
(``import_tables``: the real transaction, roll-ups included), and the client asks each server
every 5 ms until its month's play count holds the new play. Figures: time from ``import_tables``
returning (the commit) to the first answer that sees it, per server; min / median / max.

Goal (issue 10): at most ``version_poll_interval`` + 100 ms. The poll interval is the bound
by design (each worker reads the catalog's current snapshot every interval), so the median
sits near half of it.

    PYTHONPATH=src:. python -m benchmarks.freshness_lake [--interval 2.0] [--rounds 8] [--plays 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.schema import PLAYS_SCHEMA
from kasoku.lake.ducklake import Lake
from benchmarks.lakes import generate_plays
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[1]
MONTH = {"start": "2024-03-01", "end": "2024-03-31", "granularity": "month"}
ROUTE = "/v1/listening/stats"


def serve(lake: str, state: Path, interval: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, KASOKU_STATE=str(state), KASOKU_USER_ID="me", KASOKU_VERSION_POLL_INTERVAL=str(interval),
               PYTHONPATH=str(ROOT / "src"))
    env.pop("KASOKU_REDIS_URL", None)
    env.pop("KASOKU_ADMIN_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--port", str(port), "--lake", lake],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kasoku serve exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("kasoku serve did not answer")


def one_play(i: int) -> pa.Table:
    row = {"play_id": f"fresh-{i}", "user_id": "me", "played_at": datetime(2024, 3, 15, 12, i % 60, tzinfo=timezone.utc),
           "ms_played": 10_000_000, "track_id": f"fresh{i}", "track_name": f"Fresh {i}", "artist_name": "Freshness",
           "album_name": "Now", "platform": "bench", "country": "JP", "reason_start": "trackdone",
           "reason_end": "trackdone", "shuffle": False, "skipped": False, "source": "extended"}
    return pa.Table.from_pylist([row], schema=PLAYS_SCHEMA)


def plays(client: httpx.Client, url: str) -> int:
    """The month's play count as the server answers it (cached or not)."""
    response = client.get(url + ROUTE, params=MONTH)
    response.raise_for_status()
    return int(response.json()["data"][0]["track_count"])


def first_seen(url: str, expected: int, committed: float, interval: float) -> float | None:
    """Milliseconds from the commit until ``url`` answers ``expected`` plays (None: never, within a bound)."""
    with httpx.Client(timeout=30) as client:
        while time.perf_counter() - committed < interval * 5 + 10:
            if plays(client, url) == expected:
                return (time.perf_counter() - committed) * 1000
            time.sleep(0.005)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--interval", type=float, default=2.0, help="version_poll_interval of both servers")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--plays", type=int, default=20_000, help="plays in the lake before the rounds")
    opts = parser.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="kasoku-fresh-") as tmp:
        lake_dir = str(Path(tmp) / "lake")
        import_tables(Lake(lake_dir), generate_plays(opts.plays, months=12, start_year=2024))
        console.print(f"lake of {opts.plays:,} plays written; starting two servers")
        servers = [serve(lake_dir, Path(tmp) / f"state{i}", opts.interval) for i in range(2)]
        lags: dict[str, list[float]] = {url: [] for _, url in servers}
        try:
            with httpx.Client(timeout=30) as client:
                for n in range(1, opts.rounds + 1):
                    before = {url: [plays(client, url), plays(client, url)] for _, url in servers}  # 2nd: a hit
                    assert all(len(set(v)) == 1 for v in before.values()), before
                    time.sleep(opts.interval * (n % 3) / 3)  # commits at varying phases of the polls
                    import_tables(Lake(lake_dir), one_play(n))
                    committed = time.perf_counter()
                    with ThreadPoolExecutor(len(servers)) as probes:  # one prober per server: no cross-delay
                        seen = list(probes.map(lambda u: first_seen(u, before[u][0] + 1, committed, opts.interval),
                                               [url for _, url in servers]))
                    for (_, url), ms in zip(servers, seen):
                        if ms is None:
                            raise SystemExit(f"round {n}: {url} never saw the new play")
                        lags[url].append(ms)
                    console.print(f"round {n}/{opts.rounds}: " + ", ".join(f"{lags[u][-1]:.0f} ms" for _, u in servers))
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(timeout=20)
    table = Table(title=f"freshness on a DuckLake lake, interval {opts.interval} s, goal <= {opts.interval * 1000 + 100:.0f} ms "
                        f"(load avg {os.getloadavg()[0]:.1f})")
    for col in ("server", "min ms", "median ms", "max ms", "within goal"):
        table.add_column(col, justify="right" if col != "server" else "left")
    for i, (_, url) in enumerate(servers):
        xs = lags[url]
        ok = sum(x <= opts.interval * 1000 + 100 for x in xs)
        table.add_row(f"server {i + 1}", f"{min(xs):.0f}", f"{statistics.median(xs):.0f}", f"{max(xs):.0f}", f"{ok}/{len(xs)}")
    console.print(table)


if __name__ == "__main__":
    main()
