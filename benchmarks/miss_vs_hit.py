"""Issue 3: a cold miss (DuckDB over the lake) vs a cache hit, for top-tracks over >= 1 M plays.

Both through the real engine and, separately, over HTTP (the app in-process through httpx's
ASGI transport, so the figures show the server's work, not a network stack).

    python benchmarks/miss_vs_hit.py [--plays 1000000] [--iterations 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.lakes import generate_plays, write_lake  # noqa: E402
from benchmarks.stats import summary_ms  # noqa: E402
from kasoku.api.bodies import body_of
from kasoku.config import Settings  # noqa: E402
from kasoku.engine.types import Query  # noqa: E402
from kasoku.lake.ducklake import Lake  # noqa: E402
from kasoku.service import build_app  # noqa: E402

PARAMS = {"start": "2024-01-01", "end": "2024-12-31", "limit": 10}


async def run(lake_dir: str, iterations: int, progress: Progress) -> dict[str, dict[str, float]]:
    app = build_app(Settings(lake=lake_dir, user_id="me", rollups=False))
    engine = app.state.engine
    query = Query("listening", "top_tracks", PARAMS, "me")
    out: dict[str, dict[str, float]] = {}
    async with app.router.lifespan_context(app):
        await engine.get(query)  # warm DuckDB's file metadata once
        for label, invalidate in (("engine: cold miss", True), ("engine: hit", False)):
            task = progress.add_task(label, total=iterations)
            samples = []
            for _ in range(iterations):
                if invalidate:
                    await engine.invalidate()
                t = time.perf_counter()
                served = await engine.get(query)
                body_of(served.entry, "json", "identity")
                samples.append(time.perf_counter() - t)
                progress.advance(task)
            out[label] = summary_ms(samples)
        url = "/v1/listening/top-tracks?start=2024-01-01&end=2024-12-31&limit=10"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bench") as client:
            for label, invalidate in (("HTTP: cold miss", True), ("HTTP: hit", False)):
                task = progress.add_task(label, total=iterations)
                samples = []
                for _ in range(iterations):
                    if invalidate:
                        await engine.invalidate()
                    t = time.perf_counter()
                    response = await client.get(url)
                    samples.append(time.perf_counter() - t)
                    expected = "miss" if invalidate else "hit"
                    if response.headers.get("x-cache") != expected:
                        raise SystemExit(f"expected X-Cache {expected}, got {response.headers.get('x-cache')}")
                    progress.advance(task)
                out[label] = summary_ms(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=50)
    opts = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        lake_dir = str(Path(tmp) / "lake")
        write_lake(Lake(lake_dir), generate_plays(opts.plays), progress)
        results = asyncio.run(run(lake_dir, opts.iterations, progress))
    table = Table(title=f"top_tracks, 12 months, {opts.plays:,} plays, {opts.iterations} iterations (ms)")
    for col in ("path", "mean", "p50", "p95", "p99", "min", "max", "miss / hit"):
        table.add_column(col, justify="right")
    for prefix in ("engine", "HTTP"):
        miss, hit = results[f"{prefix}: cold miss"], results[f"{prefix}: hit"]
        for label, s in ((f"{prefix}: cold miss", miss), (f"{prefix}: hit", hit)):
            ratio = f"{miss['mean'] / hit['mean']:,.0f}x" if s is hit else ""
            table.add_row(label, *(f"{s[k]:.3f}" for k in ("mean", "p50", "p95", "p99", "min", "max")), ratio)
    console.print(table)


if __name__ == "__main__":
    main()
