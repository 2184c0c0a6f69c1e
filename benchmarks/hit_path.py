"""Cache-hit throughput: kasoku's hit path vs a bare Starlette route returning the same bytes.

Both run under uvicorn (one worker, same flags) on this machine in this run, driven by the
bench client at the same concurrency, alternately, several rounds; the best round of each is
compared (least disturbed by the machine). A third server runs kasoku with the fast path off
(every hit through FastAPI routing + pydantic validation) to show what the fast path buys.

    PYTHONPATH=src python -m benchmarks.hit_path [--rows 100] [--requests 3000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx

from kasoku.bench import run_bench


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(factory: str, env: dict[str, str] | None = None, *, pid_out: bool = False) -> Iterator[Any]:
    """A uvicorn subprocess serving ``factory``; yields its base URL (and pid with ``pid_out``)."""
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join([os.path.join(root, "src"), root])
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"],
                            env={**os.environ, "PYTHONPATH": path, **(env or {})}, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield (base, proc.pid) if pid_out else base
    finally:
        proc.terminate()
        proc.wait(10)


async def best_rps(url: str, args: argparse.Namespace, headers: dict[str, str]) -> tuple[float, float]:
    result = await run_bench(url, warmup=200, iterations=args.requests, concurrency=args.concurrency, headers=headers)
    s = result.summary()
    if set(result.statuses) != {200}:
        raise SystemExit(f"{url}: unexpected statuses {result.statuses}")
    return s["requests_per_s"], s["p50_ms"]


def wrk_rps(url: str, args: argparse.Namespace, headers: dict[str, str],
            prefix: list[str] | None = None) -> tuple[float, float]:
    """wrk (a C load generator, Debian package ``wrk``) takes far less CPU than a Python client,
    so on a 2-core machine the servers, not the client, set the pace. ``prefix``: e.g. taskset."""
    cmd = [*(prefix or []), "wrk", "-t1", f"-c{args.concurrency}", f"-d{args.seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    p50_text = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("50%"))
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    unit = next(u for u in ("us", "ms", "s") if p50_text.endswith(u))
    if "Non-2xx" in out:
        raise SystemExit(f"{url}: non-2xx answers under wrk")
    return rps, float(p50_text[: -len(unit)]) * scale[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per round with wrk")
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk if installed (auto), or kasoku's Python bench client")
    args = parser.parse_args()
    import shutil

    use_wrk = args.driver == "wrk" or (args.driver == "auto" and shutil.which("wrk") is not None)
    path = f"/v1/synthetic/plays?n={args.rows}&start=2020-01-01"
    headers = {"Accept-Encoding": "identity"}
    with server("benchmarks.synthetic:build_app") as fast, \
            server("benchmarks.synthetic:build_app", {"KASOKU_BENCH_NO_FASTPATH": "1"}) as slow:
        first = httpx.get(fast + path, headers=headers)
        httpx.get(slow + path, headers=headers)
        body = first.content
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(body)
        env = {"KASOKU_BENCH_BODY": f.name, "KASOKU_BENCH_TYPE": first.headers["content-type"]}
        with server("benchmarks.synthetic:bare_app", env) as bare:
            assert httpx.get(bare + path).content == body
            results: dict[str, list[tuple[float, float]]] = {"bare": [], "fast": [], "slow": []}
            for _ in range(args.rounds):
                for name, base in (("bare", bare), ("fast", fast), ("slow", slow)):
                    if use_wrk:
                        results[name].append(wrk_rps(base + path, args, headers))
                    else:
                        results[name].append(asyncio.run(best_rps(base + path, args, headers)))
        os.unlink(f.name)
    load = f"wrk, {args.seconds} s" if use_wrk else f"Python client, {args.requests} requests"
    print(f"hit path: {args.rows} rows, {len(body):,} B JSON body, {load} x {args.rounds} rounds, "
          f"concurrency {args.concurrency}, CPUs {os.cpu_count()} (client and servers share them)")
    print(f"{'server':<42}{'best req/s':>12}{'p50 ms':>9}{'vs bare':>9}")
    bare_best = max(r for r, _ in results["bare"])
    labels = {"bare": "bare Starlette route, same bytes", "fast": "kasoku hit (fast path)",
              "slow": "kasoku hit (full FastAPI route)"}
    for name in ("bare", "fast", "slow"):
        rps, p50 = max(results[name])
        print(f"{labels[name]:<42}{rps:>12,.0f}{p50:>9.3f}{rps / bare_best:>9.2f}x")


if __name__ == "__main__":
    main()
