"""The listener's home (``/``) in a real browser: fully loaded cold and warm, and its transfer size.

    PYTHONPATH=src:. python -m benchmarks.dashboard [--plays 1000000] [--runs 5]

A lake of ``--plays`` plays over this year (DuckDB-generated, benchmarks/lakes.py) with
roll-ups, served by a real server (uvicorn subprocess) and loaded in headless Chromium
(Debian's, as in tests/browser). "Fully loaded" = navigation start until the page's script
has every chart's data and has drawn it (``window.kasokuReadyAt``: DOM ready and all data
requests done). Cold: nothing cached on the server (the first load on a fresh process,
then after ``POST /admin/invalidate``) and a new browser profile. Warm server: a new browser
profile (assets downloaded again), answers cached. Warm: a reload (assets from the browser's
cache, answers cached). Transfer: every byte the page received (compressed, headers
included), from the browser's resource timing.

Baseline, same run: the same view's data (every query the page's tables and charts read,
``ListeningViews.home``) computed raw — roll-ups off, the cache emptied before each run —
in-process, so it is the data alone, without HTTP, HTML or a browser.
Goals (issue 12): warm ≤ 150 ms, cold ≤ 600 ms, ≤ 400 KB compressed.

CPU, per load: the server process's CPU time and the browser's (every Chromium process this
run started), both from /proc: what the page costs, which a shared machine changes far less
than wall time (ticks of 10 ms: read medians).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from benchmarks.lakes import generate_plays, write_lake
from kasoku.config import Settings
from kasoku.lake.ducklake import Lake
from tests.browser.server import KasokuServer, launch_chromium

TOKEN = "bench-token"
LOADED = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  return {ready: window.kasokuReadyAt, dom: nav.domContentLoadedEventEnd, html: nav.responseEnd - nav.requestStart,
          bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
          body: nav.encodedBodySize + res.reduce((a, r) => a + r.encodedBodySize, 0),
          decoded: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
          requests: 1 + res.length};
}"""


def build_lake(path: Path, plays: int, console: Console) -> None:
    from datetime import date

    today = date.today()
    with Progress(console=console, transient=True) as progress:
        lake = Lake(str(path))
        # every track on one album, as in a real history (a random album per play would make the
        # (track, album) roll-ups as large as the plays table: docs/dashboard.md, "Measured")
        if today.month > 1:
            plays_table = generate_plays(plays, months=today.month - 1, start_year=today.year, album_per_track=True)
        else:
            plays_table = generate_plays(plays, months=1, start_year=today.year - 1, album_per_track=True)
        write_lake(lake, plays_table, progress, label=f"writing {plays:,} plays")


def invalidate(url: str) -> None:
    request = urllib.request.Request(f"{url}/admin/invalidate", data=b'{"everything": true}', method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far, in ms: unlike wall time, barely
    moved by other processes on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def browser_cpu_ms(server_pid: int) -> float:
    """CPU time of every Chromium process this benchmark started (the descendants of this
    process but the server: Playwright's driver, the browser, its renderers and helpers)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    mine, total = os.getpid(), 0.0
    for pid in parent:
        up = pid
        while up in parent and up not in (mine, server_pid, 0, 1):
            up = parent[up]
        if up == mine and pid != mine:
            try:
                total += cpu_ms(pid)
            except (OSError, ValueError, IndexError):
                continue
    return total


def load(page: Any, url: str, server_pid: int, *, reload: bool = False) -> dict[str, float]:
    cpu0, browser0 = cpu_ms(server_pid), browser_cpu_ms(server_pid)
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.wait_for_selector("html[data-ready='1']", timeout=120_000)
    found = dict(page.evaluate(LOADED))
    found["server_cpu"] = cpu_ms(server_pid) - cpu0
    found["browser_main"] = browser_cpu_ms(server_pid) - browser0
    return found


def browser_runs(server_url: str, server_pid: int, runs: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[dict[str, float]]] = {"cold": [], "warm server": [], "warm": []}
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for i in range(runs):
                if i:
                    invalidate(server_url)
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                out["cold"].append(load(page, server_url + "/", server_pid))
                context.close()
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                out["warm server"].append(load(page, server_url + "/", server_pid))
                out["warm"].append(load(page, server_url + "/", server_pid, reload=True))
                context.close()
        finally:
            browser.close()
    return out


async def raw_runs(lake: str, runs: int) -> list[float]:
    """The view's data, raw: roll-ups off, cache emptied before each run."""
    from kasoku.service import build_app
    from kasoku.web.listening import ListeningViews
    from kasoku.web.periods import resolve
    from kasoku.web.reader import ApiReader

    app = build_app(Settings(lake=lake, rollups=False))
    engine = app.state.engine
    views = ListeningViews(ApiReader(app))
    period = resolve("year", None, None, "UTC")
    times = []
    async with app.router.lifespan_context(app):
        for _ in range(runs):
            await engine.invalidate()
            started = time.perf_counter()
            await views.home(period)
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="kasoku-dashboard-") as tmp:
        root = Path(tmp)
        build_lake(root / "lake", args.plays, console)
        server = KasokuServer({"KASOKU_LAKE": str(root / "lake"), "KASOKU_ADMIN_TOKEN": TOKEN}, log=root / "server.log")
        server.start()
        try:
            assert server.proc is not None
            runs = browser_runs(server.url, server.proc.pid, args.runs)
        finally:
            server.stop()
        raw = asyncio.run(raw_runs(str(root / "lake"), args.runs))
    load = os.getloadavg()[0]
    console.print(f"[bold]/ (this year) at {args.plays:,} plays[/] — {args.runs} runs, median (min–max); "
                  f"load average {load:.1f} on {os.cpu_count()} CPUs")
    for name, rows in runs.items():
        ready = [r["ready"] for r in rows]
        dom = [r["dom"] for r in rows]
        console.print(f"  {name:12s} fully loaded {statistics.median(ready):7.1f} ms ({min(ready):.1f}–{max(ready):.1f})"
                      f"   page HTML {statistics.median(r['html'] for r in rows):6.1f} ms"
                      f"   DOM ready {statistics.median(dom):6.1f} ms   transfer {rows[-1]['bytes'] / 1024:6.1f} KB"
                      f" (bodies {rows[-1]['body'] / 1024:.1f} KB compressed, {rows[-1]['decoded'] / 1024:.1f} KB decoded)"
                      f"   requests {rows[-1]['requests']:.0f}")
        console.print(f"  {'':12s} CPU: server {statistics.median(r['server_cpu'] for r in rows):6.1f} ms"
                      f"   browser (all its processes) {statistics.median(r['browser_main'] for r in rows):6.1f} ms")
    raw_med = statistics.median(raw)
    console.print(f"  raw data     the view's queries, no cache, no roll-ups: {raw_med:7.1f} ms ({min(raw):.1f}–{max(raw):.1f})")
    cold, warm = statistics.median(r["ready"] for r in runs["cold"]), statistics.median(r["ready"] for r in runs["warm"])
    console.print(f"  ratios       raw data / cold page {raw_med / cold:.1f}x   raw data / warm page {raw_med / warm:.1f}x")
    console.print("  goals        warm ≤ 150 ms: " + ("met" if warm <= 150 else "NOT met")
                  + " · cold ≤ 600 ms: " + ("met" if cold <= 600 else "NOT met")
                  + " · ≤ 400 KB: " + ("met" if max(r["bytes"] for r in runs["cold"]) <= 400 * 1024 else "NOT met"))
    console.print(json.dumps({k: [round(r["ready"], 1) for r in v] for k, v in runs.items()} | {"raw": [round(x, 1) for x in raw]}
                             | {f"{k} cpu": [[round(r["server_cpu"]), round(r["browser_main"])] for r in v] for k, v in runs.items()}))


if __name__ == "__main__":
    main()
