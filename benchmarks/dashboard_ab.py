"""The listener's home (``/``) served by two versions of kasoku at once, loads alternating:
a before/after of a change measured in the same run on the same lake (a shared machine's
load then weighs on both alike).

    git archive <commit> src | tar -x -C /tmp/before
    PYTHONPATH=src:. python -m benchmarks.dashboard_ab --lake DIR --before-src /tmp/before/src [--runs 5]

The lake: any listening lake (e.g. the one benchmarks/dashboard.py builds; both servers
read it). Per run and version: cold (``POST /admin/invalidate``, new browser profile; its
page HTML time and the server's CPU), warm server (new profile, answers cached) and warm (a
reload; the browser's CPU — every Chromium process — and the server's). Medians (min–max).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.dashboard import LOADED, TOKEN, browser_cpu_ms, cpu_ms, invalidate
from tests.browser.server import KasokuServer, launch_chromium


def load(page: Any, url: str, *, reload: bool = False) -> dict[str, float]:
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.wait_for_selector("html[data-ready='1']", timeout=120_000)
    return dict(page.evaluate(LOADED))


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True)
    parser.add_argument("--before-src", required=True, help="the src/ directory of the version to compare against")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logs = Path(args.lake).parent
    servers = {"before": KasokuServer({"KASOKU_LAKE": args.lake, "KASOKU_ADMIN_TOKEN": TOKEN, "PYTHONPATH": args.before_src},
                                      log=logs / "before.log"),
               "after": KasokuServer({"KASOKU_LAKE": args.lake, "KASOKU_ADMIN_TOKEN": TOKEN}, log=logs / "after.log")}
    names = ("cold", "cold HTML", "cold server CPU", "warm server", "warm", "warm browser CPU", "warm server CPU")
    out: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in servers}
    for server in servers.values():
        server.start()
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for server in servers.values():  # each process's first page (imports, connections): not counted
                context = browser.new_context()
                load(context.new_page(), server.url + "/")
                context.close()
            for i in range(args.runs):
                print(f"run {i + 1}/{args.runs}", flush=True)
                for name, server in servers.items():
                    pid, row = server.proc.pid, out[name]  # type: ignore[union-attr]
                    invalidate(server.url)
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    cpu0 = cpu_ms(pid)
                    found = load(context.new_page(), server.url + "/")
                    row["cold"].append(found["ready"])
                    row["cold HTML"].append(found["html"])
                    row["cold server CPU"].append(cpu_ms(pid) - cpu0)
                    context.close()
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    row["warm server"].append(load(page, server.url + "/")["ready"])
                    time.sleep(0.3)
                    browser0, cpu0 = browser_cpu_ms(pid), cpu_ms(pid)
                    row["warm"].append(load(page, server.url + "/", reload=True)["ready"])
                    row["warm browser CPU"].append(browser_cpu_ms(pid) - browser0)
                    row["warm server CPU"].append(cpu_ms(pid) - cpu0)
                    context.close()
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
    print(f"/ at the lake {args.lake}, {args.runs} runs alternating; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for n in names:
        b, a = (statistics.median(out[k][n]) for k in ("before", "after"))
        spread = "   ".join(f"{k} {statistics.median(out[k][n]):7.0f} ms ({min(out[k][n]):.0f}–{max(out[k][n]):.0f})" for k in out)
        print(f"  {n:18s} {spread}   after/before {a / b if b else float('nan'):.2f}")


if __name__ == "__main__":
    main()
