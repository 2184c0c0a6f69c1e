"""What safety costs: auth + limits on the cache-hit path, and liveness under heavy queries.

1. Hit path: two uvicorn servers of the synthetic domain, each pinned to one core (taskset),
   wrk pinned to the other: ``open`` — no guard at all (no keys, no limits, no Host check:
   the application as it was) — and ``guarded`` — an API key required and sent (Bearer),
   the per-key rate limit counting every request (set high enough never to refuse), Host,
   size and Origin checks. Alternate rounds; the best round of each is compared.
2. Liveness: a listening server over a generated lake with 2 DuckDB workers, 50 clients
   running heavy distinct queries (every one a miss), and a probe client asking
   ``/health/live`` (and, for comparison, ``/health/ready``) every 20 ms: p50/p99/max, against
   the same probes on the idle server.

    PYTHONPATH=src:. python -m benchmarks.secure_overhead [--seconds 5] [--rounds 3] [--plays 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.hit_path import free_port, wrk_rps
from benchmarks.stats import summary_ms

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def server(factory: str, env: dict[str, str], cpu: int | None) -> Iterator[str]:
    """A uvicorn subprocess (pinned to ``cpu`` when taskset exists); yields its base URL."""
    port = free_port()
    pythonpath = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    cmd = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port), "--log-level", "warning",
           "--no-access-log"]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": pythonpath, **env}, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(base + "/health/live", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def hit_path(args: argparse.Namespace) -> None:
    from kasoku.keys import KeyStore

    state = Path(tempfile.mkdtemp(prefix="kasoku-bench-state-"))
    lake = "./.kasoku/bench-unused"
    _key, secret = KeyStore.for_lake(state, lake).create("me", "read", name="bench")
    path = "/v1/synthetic/plays?n=100&start=2020-01-01"
    plain = {"Accept-Encoding": "identity"}
    keyed = {**plain, "Authorization": f"Bearer {secret}"}
    open_env = {"KASOKU_BENCH_NO_GUARD": "1", "KASOKU_STATE": str(state / "none")}
    guarded_env = {"KASOKU_STATE": str(state), "KASOKU_LIMITS__RATE": "10000000/second"}
    wrk_args = argparse.Namespace(concurrency=args.concurrency, seconds=args.seconds)
    results: dict[str, list[tuple[float, float]]] = {"open": [], "guarded": []}
    with server("benchmarks.synthetic:build_app", open_env, cpu=0) as open_url, \
            server("benchmarks.synthetic:build_app", guarded_env, cpu=0) as guarded_url:
        assert httpx.get(guarded_url + path, headers=plain).status_code == 401
        for url, headers in ((open_url, plain), (guarded_url, keyed)):
            for _ in range(3):
                assert httpx.get(url + path, headers=headers).status_code == 200
        taskset = ["taskset", "-c", "1"] if shutil.which("taskset") else []
        for _ in range(args.rounds):
            for name, url, headers in (("open", open_url, plain), ("guarded", guarded_url, keyed)):
                results[name].append(wrk_rps(url + path, wrk_args, headers, prefix=taskset))
    shutil.rmtree(state, ignore_errors=True)
    print(f"hit path (wrk -c{args.concurrency}, {args.seconds} s x {args.rounds} rounds, each server on one core)")
    print(f"{'server':<54}{'best req/s':>12}{'p50 ms':>9}")
    best = {name: max(rounds) for name, rounds in results.items()}
    labels = {"open": "open: no guard, no keys, no limits", "guarded": "guarded: key (Bearer) + rate limit + guard"}
    for name in ("open", "guarded"):
        print(f"{labels[name]:<54}{best[name][0]:>12,.0f}{best[name][1]:>9.3f}")
    ratio = best["guarded"][0] / best["open"][0]
    print(f"guarded / open: {ratio:.3f} ({(1 - ratio) * 100:+.1f} % fewer req/s; goal <= 5 %)")


def in_process(args: argparse.Namespace) -> None:
    """The same comparison without sockets: ASGI calls straight into the two apps, alternating
    blocks, best block of each — far less sensitive to a busy machine than wrk."""
    from benchmarks.synthetic import build_app

    state = Path(tempfile.mkdtemp(prefix="kasoku-bench-state-"))
    os.environ["KASOKU_STATE"] = str(state)
    os.environ["KASOKU_LIMITS__RATE"] = "10000000/second"
    guarded = build_app()
    _key, secret = guarded.state.authenticator.keys.create("me", "read", name="bench")
    os.environ["KASOKU_BENCH_NO_GUARD"] = "1"
    open_app = build_app()
    del os.environ["KASOKU_BENCH_NO_GUARD"]
    base_headers = [(b"host", b"127.0.0.1:8000"), (b"accept-encoding", b"identity"), (b"user-agent", b"wrk")]

    def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                "path": "/v1/synthetic/plays", "raw_path": b"/v1/synthetic/plays",
                "query_string": b"n=100&start=2020-01-01", "headers": headers, "client": ("127.0.0.1", 5000),
                "server": ("127.0.0.1", 8000), "root_path": "", "state": {}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def block(app: Any, headers: list[tuple[bytes, bytes]], n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await app(scope(headers), receive, send)
        return (time.perf_counter() - t0) / n

    async def run() -> dict[str, float]:
        keyed = [*base_headers, (b"authorization", f"Bearer {secret}".encode())]
        for app, headers in ((open_app, base_headers), (guarded, keyed)):
            for _ in range(3):
                await app(scope(headers), receive, send)  # miss, then remembered, then a fast-path hit
        best = {"open": float("inf"), "guarded": float("inf")}
        for _ in range(args.blocks):
            best["open"] = min(best["open"], await block(open_app, base_headers, 2000))
            best["guarded"] = min(best["guarded"], await block(guarded, keyed, 2000))
        return best

    best = asyncio.run(run())
    assert set(statuses) == {200}, set(statuses)
    shutil.rmtree(state, ignore_errors=True)
    extra = (best["guarded"] - best["open"]) * 1e6
    print(f"in process (ASGI calls, best of {args.blocks} blocks of 2000 hits): open {best['open'] * 1e6:.1f} µs, "
          f"guarded {best['guarded'] * 1e6:.1f} µs per hit: +{extra:.1f} µs, "
          f"{best['open'] / best['guarded']:.3f}x the open app's hits/s")


async def _probe(url: str, n: int, every: float) -> list[float]:
    samples: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            response = await client.get(url)
            samples.append(time.perf_counter() - t0)  # seconds: summary_ms gives ms
            assert response.status_code in (200, 503), response.status_code
            await asyncio.sleep(every)
    return samples


async def _heavy(base: str, stop: asyncio.Event, counter: list[int]) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=120) as client:
        while not stop.is_set():
            q = "".join(rng.choice("0123456789") for _ in range(3))  # a new query every time: always a miss
            await client.get(f"{base}/v1/listening/search?q={q}&limit=100")
            counter[0] += 1


async def liveness(base: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    out["live, idle"] = summary_ms(await _probe(base + "/health/live", args.probes, 0.02))
    out["ready, idle"] = summary_ms(await _probe(base + "/health/ready", args.probes // 4, 0.02))
    # The heavy clients run on a thread with a loop of their own: the probe's timings must not
    # include this process's own work for 50 other clients.
    import threading

    counter = [0]
    stop_flag = threading.Event()

    def load() -> None:
        async def run() -> None:
            stop = asyncio.Event()
            tasks = [asyncio.create_task(_heavy(base, stop, counter)) for _ in range(args.heavy)]
            while not stop_flag.is_set():
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(run())

    thread = threading.Thread(target=load)
    thread.start()
    await asyncio.sleep(1.0)
    out[f"live, {args.heavy} heavy queries"] = summary_ms(await _probe(base + "/health/live", args.probes, 0.02))
    out[f"ready, {args.heavy} heavy queries"] = summary_ms(await _probe(base + "/health/ready", args.probes // 4, 0.02))
    stop_flag.set()
    await asyncio.to_thread(thread.join)
    print(f"(heavy queries answered meanwhile: {counter[0]})")
    return out


def health(args: argparse.Namespace) -> None:
    from benchmarks.lakes import generate_plays, write_lake
    from kasoku.lake.ducklake import Lake

    workdir = Path(tempfile.mkdtemp(prefix="kasoku-bench-health-"))
    lake_dir = workdir / "lake"
    write_lake(Lake(str(lake_dir)), generate_plays(args.plays, months=12))
    env = {"KASOKU_LAKE": str(lake_dir), "KASOKU_STATE": str(workdir / "state"), "KASOKU_DUCKDB_WORKERS": "2",
           "KASOKU_ROLLUPS": "false", "KASOKU_USER_ID": "me"}
    with server("kasoku.service:build_app", env, cpu=None) as base:
        result = asyncio.run(liveness(base, args))
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"liveness and readiness ({args.plays:,} plays, 2 DuckDB workers, probes every 20 ms)")
    print(f"{'probe':<36}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, s in result.items():
        print(f"{name:<36}{s['p50']:>9.2f}{s['p99']:>9.2f}{s['max']:>9.2f}")
    loaded = result[f"live, {args.heavy} heavy queries"]["p99"]
    print(f"/health/live p99 under load: {loaded:.2f} ms (goal <= 10 ms); "
          f"{loaded / result['live, idle']['p99']:.1f}x its idle p99")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--plays", type=int, default=2_000_000)
    parser.add_argument("--heavy", type=int, default=50, help="concurrent heavy query clients")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks for the in-process comparison")
    parser.add_argument("--only", choices=["hit", "inproc", "health"], default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None and args.only in (None, "hit"):
        raise SystemExit("wrk is needed for the hit-path part: apt-get install -y wrk")
    if args.only in (None, "inproc"):
        in_process(args)
    if args.only in (None, "hit"):
        hit_path(args)
    if args.only in (None, "health"):
        health(args)


if __name__ == "__main__":
    main()
