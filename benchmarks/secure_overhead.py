"""What safety costs: auth + limits on the cache-hit path, and liveness under heavy queries.

1. Hit path: three uvicorn servers of the synthetic domain, each pinned to one core (taskset),
   wrk pinned to the other: ``open`` — no guard at all (no keys, no limits, no Host check,
   uvicorn's own httptools protocol: the application as it was) — ``guarded`` — what
   ``kasoku serve`` runs: an API key required and sent (Bearer), the per-key rate limit
   counting every request (set high enough never to refuse), Host, size and Origin checks,
   and the bounded httptools protocol (api/connection.py: header timeout and header bytes) —
   and ``guarded-h11``: the same on uvicorn's h11 parser (the other way to bound header
   bytes). Alternate rounds; the best round of each is compared.
2. Liveness: a listening server over a generated lake with 2 DuckDB workers, 50 clients
   (in a process of their own) running heavy distinct queries (every one a miss), and a probe
   client asking ``/health/live`` (and, for comparison, ``/health/ready``) every 20 ms:
   p50/p99/max, against the same probes on the idle server; once with DuckDB's threads at the
   event loop's priority (``duckdb_nice`` 0), once below it (the default).

    PYTHONPATH=src:. python -m benchmarks.secure_overhead [--seconds 5] [--rounds 3] [--plays 2000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.hit_path import free_port
from benchmarks.stats import summary_ms

ROOT = Path(__file__).resolve().parents[1]
PIDS: dict[str, int] = {}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wrk_round(url: str, args: argparse.Namespace, headers: dict[str, str], prefix: list[str]) -> tuple[float, float, float]:
    """One wrk round: (req/s, p50 ms, server CPU µs per request). CPU per request is what a
    shared machine distorts least: it counts only the time the server actually ran."""
    cmd = [*prefix, "wrk", "-t1", f"-c{args.concurrency}", f"-d{args.seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    pid = PIDS[url.split("/v1/")[0]]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    if "Non-2xx" in out:
        raise SystemExit(f"{url}: non-2xx answers under wrk")
    lines = out.splitlines()
    rps = float(next(line.split()[1] for line in lines if line.startswith("Requests/sec")))
    total = int(next(line.split()[0] for line in lines if "requests in" in line))
    p50_text = next(line.split()[1] for line in lines if line.strip().startswith("50%"))
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    unit = next(u for u in ("us", "ms", "s") if p50_text.endswith(u))
    return rps, float(p50_text[: -len(unit)]) * scale[unit], cpu / total * 1e6


@contextlib.contextmanager
def server(factory: str, env: dict[str, str], cpu: int | None, bounded: str | None = None,
           nice: int = 0) -> Iterator[str]:
    """A uvicorn subprocess (pinned to ``cpu`` when taskset exists); yields its base URL.
    ``bounded``: run kasoku's bounded protocol on that parser (``httptools``/``h11``), as
    ``kasoku serve`` does, instead of uvicorn's default."""
    port = free_port()
    pythonpath = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    cmd = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", str(port), "--log-level", "warning",
           "--no-access-log"]
    if bounded:
        cmd = [sys.executable, "-c",
               "import sys, uvicorn; from kasoku.api.connection import protocol; "
               f"uvicorn.run({factory!r}, factory=True, port={port}, log_level='warning', access_log=False, "
               + ("http='httptools', " if bounded == "stock" else
                  f"http=protocol({bounded!r}, header_timeout=10.0, max_header_bytes=16384), ") +
               "h11_max_incomplete_event_size=16384)"]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": pythonpath, **env}, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    PIDS[base] = proc.pid  # taskset execs the server: the same process
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
    names = ("open", "guarded", "guarded-h11")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    with server("benchmarks.synthetic:build_app", open_env, cpu=0) as open_url, \
            server("benchmarks.synthetic:build_app", guarded_env, cpu=0, bounded="httptools") as guarded_url, \
            server("benchmarks.synthetic:build_app", guarded_env, cpu=0, bounded="h11") as h11_url:
        assert httpx.get(guarded_url + path, headers=plain).status_code == 401
        runs = (("open", open_url, plain), ("guarded", guarded_url, keyed), ("guarded-h11", h11_url, keyed))
        for _name, url, headers in runs:
            for _ in range(3):
                assert httpx.get(url + path, headers=headers).status_code == 200
        taskset = ["taskset", "-c", "1"] if shutil.which("taskset") else []
        for _ in range(args.rounds):
            for name, url, headers in runs:
                results[name].append(wrk_round(url + path, wrk_args, headers, taskset))
    shutil.rmtree(state, ignore_errors=True)
    print(f"hit path (wrk -c{args.concurrency}, {args.seconds} s x {args.rounds} rounds, each server on one core)")
    print(f"{'server':<58}{'best req/s':>11}{'p50 ms':>8}{'CPU µs/req':>12}{'1 core req/s':>14}")
    best = {name: max(rounds) for name, rounds in results.items()}
    cpu = {name: min(r[2] for r in rounds) for name, rounds in results.items()}
    labels = {"open": "open: no guard, no keys, no limits, uvicorn's httptools",
              "guarded": "guarded: key + rate + guard, bounded httptools",
              "guarded-h11": "guarded-h11: the same on the h11 parser"}
    for name in names:
        print(f"{labels[name]:<58}{best[name][0]:>11,.0f}{best[name][1]:>8.2f}{cpu[name]:>12.1f}{1e6 / cpu[name]:>14,.0f}")
    print("(best req/s: the best wrk round; CPU µs/req: the server's user+system CPU per answered request, least of "
          "the rounds; 1 core req/s = 1e6 / that, what one dedicated core would answer)")
    for name in names[1:]:
        ratio = best[name][0] / best["open"][0]
        cpu_ratio = cpu["open"] / cpu[name]
        print(f"{name} / open: wrk {ratio:.3f} ({(1 - ratio) * 100:+.1f} % fewer req/s), by CPU per request "
              f"{cpu_ratio:.3f} ({(1 - cpu_ratio) * 100:+.1f} %); goal <= 5 %")
    # each round runs the servers back to back: its ratios share that moment's machine
    for name in names[1:]:
        per_round = sorted(g[0] / o[0] for o, g in zip(results["open"], results[name]))
        per_round_cpu = sorted(o[2] / g[2] for o, g in zip(results["open"], results[name]))
        print(f"{name} / open, median of the {len(per_round)} rounds' own ratios: wrk "
              f"{statistics.median(per_round):.3f}, by CPU per request {statistics.median(per_round_cpu):.3f}")
    print(f"(load average {os.getloadavg()[0]:.1f})")
    print(f"h11 / httptools (both guarded): wrk {best['guarded-h11'][0] / best['guarded'][0]:.3f}, "
          f"by CPU per request {cpu['guarded'] / cpu['guarded-h11']:.3f}")


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
        # CPU time of this thread, not wall time: on a shared machine the wall clock also
        # counts the time other processes ran
        t0 = time.thread_time()
        for _ in range(n):
            await app(scope(headers), receive, send)
        return (time.thread_time() - t0) / n

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
    print(f"in process (ASGI calls, CPU time, best of {args.blocks} blocks of 2000 hits): open {best['open'] * 1e6:.1f} µs, "
          f"guarded {best['guarded'] * 1e6:.1f} µs per hit: +{extra:.1f} µs, "
          f"{best['open'] / best['guarded']:.3f}x the open app's hits/s")


class _NullTransport:
    """Enough of an asyncio transport for a uvicorn protocol: writes are counted, not sent."""

    def __init__(self) -> None:
        self.protocol: Any = None
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_protocol(self) -> Any:
        return self.protocol

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol


def through_protocol(args: argparse.Namespace) -> None:
    """The whole server side of a hit but the socket: request bytes fed to a uvicorn protocol
    on uvloop, the app answering through it — open (uvicorn's protocol, no guard) against
    guarded (the bounded protocol, a key in the head, the guard, the rate limit). CPU time of
    this thread, alternating short blocks, least of each: what the machine's load distorts least."""
    import uvicorn
    import uvloop
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from benchmarks.synthetic import build_app
    from kasoku.api.connection import protocol

    state = Path(tempfile.mkdtemp(prefix="kasoku-bench-state-"))
    os.environ["KASOKU_STATE"] = str(state)
    os.environ["KASOKU_LIMITS__RATE"] = "10000000/second"
    guarded_app = build_app()
    _key, secret = guarded_app.state.authenticator.keys.create("me", "read", name="bench")
    os.environ["KASOKU_BENCH_NO_GUARD"] = "1"
    open_app = build_app()
    del os.environ["KASOKU_BENCH_NO_GUARD"]
    head = (b"GET /v1/synthetic/plays?n=100&start=2020-01-01 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
            b"User-Agent: wrk\r\nAccept-Encoding: identity\r\n")
    bounded = protocol("httptools", header_timeout=10.0, max_header_bytes=16384)

    def connection(app: Any, factory: Any, key: bool) -> tuple[Any, ServerState, bytes]:
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        config.load()
        served = ServerState()
        proto = factory(config, served, {})
        transport = _NullTransport()
        transport.protocol = proto
        proto.connection_made(transport)
        request = head + (f"Authorization: Bearer {secret}\r\n".encode() if key else b"") + b"\r\n"
        return proto, served, request

    async def block(proto: Any, served: ServerState, request: bytes, n: int) -> float:
        t0 = time.thread_time()
        for _ in range(n):
            done = served.total_requests + 1
            proto.data_received(request)
            while served.total_requests < done:
                await asyncio.sleep(0)
        return (time.thread_time() - t0) / n

    async def run() -> dict[str, float]:
        sides = {"open": connection(open_app, HttpToolsProtocol, False),
                 "open, bounded protocol": connection(open_app, bounded, False),
                 "guarded, uvicorn's protocol": connection(guarded_app, HttpToolsProtocol, True),
                 "guarded": connection(guarded_app, bounded, True)}
        for side in sides.values():
            await block(*side, 50)  # a miss, then remembered, then fast-path hits
        best = dict.fromkeys(sides, float("inf"))
        for _ in range(args.blocks * 10):
            for name, side in sides.items():
                best[name] = min(best[name], await block(*side, 300))
        for name, side in sides.items():
            opcodes[name] = await _bytecodes(lambda side=side: block(*side, 20)) / 20
        for proto, _served, _request in sides.values():
            proto.connection_lost(None)
        return best

    opcodes: dict[str, float] = {}

    uvloop.install()
    best = asyncio.run(run())
    shutil.rmtree(state, ignore_errors=True)
    print(f"through uvicorn's protocol in process (uvloop, CPU time, least of {args.blocks * 10} blocks of 300 hits; "
          f"load average {os.getloadavg()[0]:.1f}):")
    for name, cost in best.items():
        print(f"  {name:<30}{cost * 1e6:7.2f} µs per hit  {cost / best['open']:.3f}x open's CPU  "
              f"{best['open'] / cost:.3f}x its hits/s   {opcodes[name]:6.0f} Python bytecodes per hit "
              f"({opcodes[name] / opcodes['open']:.3f}x)")
    print("  (bytecodes executed per hit: a count, the same on any machine; it leaves out time spent in C)")


async def _bytecodes(run: Any) -> int:
    """Python bytecodes executed while awaiting ``run()`` (sys.settrace with opcode events)."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    sys.settrace(trace)
    try:
        await run()
    finally:
        sys.settrace(None)
    return count


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


def _raw_probe(base: str, path: str, n: int, every: float) -> list[float]:
    """The same probe on one keep-alive socket, a request written and its answer read whole:
    the client's own time is a few µs, so what is timed is the server (and the machine). An
    httpx request costs ~3 ms of client Python here, which the httpx figures include."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    samples: list[float] = []
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t0 = time.perf_counter()
            sock.sendall(request)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the probe's connection")
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:"))
                    if len(body) >= length:
                        break
            samples.append(time.perf_counter() - t0)
            assert head.split(b" ", 2)[1] in (b"200", b"503"), head[:40]
            time.sleep(every)
    return samples


async def _heavy(base: str, stop: asyncio.Event, counter: list[int]) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=120) as client:
        while not stop.is_set():
            q = "".join(rng.choice("0123456789") for _ in range(3))  # a new query every time: always a miss
            await client.get(f"{base}/v1/listening/search?q={q}&limit=100")
            counter[0] += 1


def _heavy_process(base: str, clients: int, stop: Any, counter: Any, nice: int = 0) -> None:
    """The heavy clients, in a process of their own: in the probe's process their response
    handling would hold the probe's GIL and be counted as the server's latency. ``nice``: run
    them below the server (their CPU stands for other machines')."""
    if nice:
        os.nice(nice)

    async def run() -> None:
        done = asyncio.Event()
        local = [0]
        tasks = [asyncio.create_task(_heavy(base, done, local)) for _ in range(clients)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        done.set()
        await asyncio.wait(tasks, timeout=60)
        counter.value = local[0]

    asyncio.run(run())


async def liveness(base: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import multiprocessing

    out: dict[str, dict[str, float]] = {}
    loaded = f"{args.heavy} heavy queries"
    out["live, idle"] = summary_ms(_raw_probe(base, "/health/live", args.probes, 0.02))
    out["live, idle (httpx)"] = summary_ms(await _probe(base + "/health/live", args.probes, 0.02))
    out["ready, idle (httpx)"] = summary_ms(await _probe(base + "/health/ready", args.probes // 4, 0.02))
    ctx = multiprocessing.get_context("spawn")
    stop, counter = ctx.Event(), ctx.Value("i", 0)
    load = ctx.Process(target=_heavy_process, args=(base, args.heavy, stop, counter, args.client_nice))
    load.start()
    await asyncio.sleep(3.0)  # the clients start and the queries pile up
    out[f"live, {loaded}"] = summary_ms(_raw_probe(base, "/health/live", args.probes, 0.02))
    out[f"live, {loaded} (httpx)"] = summary_ms(await _probe(base + "/health/live", args.probes, 0.02))
    out[f"ready, {loaded} (httpx)"] = summary_ms(await _probe(base + "/health/ready", args.probes // 4, 0.02))
    stop.set()
    await asyncio.to_thread(load.join, 90)
    print(f"(heavy queries answered meanwhile: {counter.value})")
    return out


def health(args: argparse.Namespace) -> None:
    from benchmarks.lakes import generate_plays, write_lake
    from kasoku.lake.ducklake import Lake

    workdir = Path(tempfile.mkdtemp(prefix="kasoku-bench-health-"))
    lake_dir = Path(args.lake) if args.lake else workdir / "lake"
    if not args.lake or not lake_dir.exists():
        write_lake(Lake(str(lake_dir)), generate_plays(args.plays, months=12))
    env = {"KASOKU_LAKE": str(lake_dir), "KASOKU_STATE": str(workdir / "state"), "KASOKU_DUCKDB_WORKERS": "2",
           "KASOKU_ROLLUPS": "false", "KASOKU_USER_ID": "me"}
    results: dict[str, dict[str, dict[str, float]]] = {}
    priorities = (("DuckDB at the loop's priority (duckdb_nice 0)", "0"), ("DuckDB 10 nice steps below (default)", "10"))
    for label, nice in priorities[1:] if args.default_only else priorities:
        with server("kasoku.service:build_app", {**env, "KASOKU_DUCKDB_NICE": nice}, cpu=None, nice=args.server_nice) as base:
            results[label] = asyncio.run(liveness(base, args))
    shutil.rmtree(workdir, ignore_errors=True)
    plays = f"the lake {args.lake}" if args.lake else f"{args.plays:,} plays"
    print(f"liveness and readiness ({plays}, 2 DuckDB workers, {args.heavy} heavy clients in another "
          f"process at nice {args.client_nice}, probes every 20 ms — on one raw keep-alive socket unless marked "
          f"httpx — server nice {args.server_nice}; load average {os.getloadavg()[0]:.1f})")
    for label, result in results.items():
        print(label)
        print(f"  {'probe':<40}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, s in result.items():
            print(f"  {name:<40}{s['p50']:>9.2f}{s['p99']:>9.2f}{s['max']:>9.2f}")
        loaded = result[f"live, {args.heavy} heavy queries"]["p99"]
        print(f"  /health/live p99 under load: {loaded:.2f} ms (goal <= 10 ms); "
              f"{loaded / result['live, idle']['p99']:.1f}x its idle p99")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--plays", type=int, default=2_000_000)
    parser.add_argument("--heavy", type=int, default=50, help="concurrent heavy query clients")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--server-nice", type=int, default=0,
                        help="nice of the liveness server (e.g. -10, as root, to shield it from other work on a "
                             "shared machine; its DuckDB threads stay 10 below it)")
    parser.add_argument("--lake", default=None, help="health: a lake to use (made there with --plays if missing; kept)")
    parser.add_argument("--default-only", action="store_true", help="health: only the default duckdb_nice")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="nice of the heavy clients' process (e.g. 10: their CPU stands for other machines')")
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks for the in-process comparison")
    parser.add_argument("--only", choices=["hit", "inproc", "health"], default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None and args.only in (None, "hit"):
        raise SystemExit("wrk is needed for the hit-path part: apt-get install -y wrk")
    if args.only in (None, "inproc"):
        in_process(args)
        through_protocol(args)
    if args.only in (None, "hit"):
        hit_path(args)
    if args.only in (None, "health"):
        health(args)


if __name__ == "__main__":
    main()
