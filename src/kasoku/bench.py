"""The benchmark client (the original racing service's, with concurrency): warm-up, iterations, latency stats.

``concurrency`` workers share one keep-alive connection pool and draw from one iteration
budget, so requests/s is the throughput at that concurrency and each latency is one
request's round trip as the client saw it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class BenchResult:
    url: str
    iterations: int
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    statuses: dict[int, int]
    bytes_received: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))  # nearest rank
        return ordered[rank]

    def summary(self) -> dict[str, float]:
        lat = self.latencies_ms
        return {
            "mean_ms": statistics.fmean(lat) if lat else 0.0,
            "stdev_ms": statistics.stdev(lat) if len(lat) > 1 else 0.0,
            "min_ms": min(lat, default=0.0), "max_ms": max(lat, default=0.0),
            "p50_ms": self.percentile(50), "p95_ms": self.percentile(95), "p99_ms": self.percentile(99),
            "requests_per_s": len(lat) / self.seconds if self.seconds else 0.0,
        }


async def run_bench(url: str, *, warmup: int = 10, iterations: int = 100, concurrency: int = 1,
                    headers: dict[str, str] | None = None, timeout: float = 30.0) -> BenchResult:
    """GET ``url`` ``warmup`` times (discarded), then ``iterations`` times over ``concurrency`` workers."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits) as client:
        for _ in range(warmup):
            (await client.get(url)).raise_for_status()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        received = 0
        remaining = iterations

        async def worker() -> None:
            nonlocal remaining, received
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - t0) * 1000.0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                received += len(response.content)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        elapsed = time.perf_counter() - started
    return BenchResult(url, iterations, concurrency, elapsed, latencies, statuses, received)


def format_result(result: BenchResult) -> str:
    s = result.summary()
    lines = [f"{result.url}  ({result.iterations} requests, concurrency {result.concurrency})",
             "  mean {mean_ms:.3f} ms  stdev {stdev_ms:.3f}  min {min_ms:.3f}  max {max_ms:.3f}".format(**s),
             "  p50 {p50_ms:.3f} ms  p95 {p95_ms:.3f}  p99 {p99_ms:.3f}  {requests_per_s:,.0f} req/s".format(**s),
             "  statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items()))
             + f"  bytes {result.bytes_received:,}"]
    return "\n".join(lines)
