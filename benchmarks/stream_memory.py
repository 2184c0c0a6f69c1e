"""Server memory while streaming 1 M rows as NDJSON: it must not grow with the result.

Starts the synthetic app under uvicorn, reads the server's RSS and peak RSS (VmHWM, Linux
/proc) before and after streaming ``--rows`` rows, and prints them beside the bytes
streamed (what a non-streamed body of the same rows would have had to hold at once, before
counting the Python row objects behind it). A smaller warm-up stream runs first so that
one-off allocations (DuckDB, imports) are not counted as growth.

    PYTHONPATH=src python -m benchmarks.stream_memory [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time

import httpx

from benchmarks.hit_path import server


def proc_mem(pid: int) -> tuple[int, int]:
    """(RSS, peak RSS) in bytes of process ``pid``."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def stream(base: str, rows: int, fmt: str) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    total = lines = 0
    with httpx.stream("GET", f"{base}/v1/synthetic/plays/stream?n={rows}&format={fmt}", timeout=600) as response:
        for chunk in response.iter_raw():
            total += len(chunk)
            lines += chunk.count(b"\n")
    return total, lines, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description="server RSS while streaming")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    mb = 1024 * 1024
    with server("benchmarks.synthetic:build_app", pid_out=True) as (base, pid):
        stream(base, 100_000, "ndjson")  # warm-up
        rss0, peak0 = proc_mem(pid)
        print(f"streaming {args.rows:,} rows from DuckDB in 8192-row batches; server pid {pid}")
        print(f"{'':<28}{'RSS MiB':>9}{'peak MiB':>10}")
        print(f"{'before (after warm-up)':<28}{rss0 / mb:>9.1f}{peak0 / mb:>10.1f}")
        for fmt in ("ndjson", "json", "sse"):
            total, lines, secs = stream(base, args.rows, fmt)
            rss, peak = proc_mem(pid)
            print(f"{'after ' + fmt:<28}{rss / mb:>9.1f}{peak / mb:>10.1f}   {total / mb:,.1f} MiB streamed, "
                  f"{lines:,} newlines, {secs:.1f} s, {args.rows / secs:,.0f} rows/s")
        print(f"peak growth over the whole run: {(peak - peak0) / mb:.1f} MiB vs {total / mb:,.1f} MiB of body per stream "
              f"({(peak - peak0) / total:.3f}x)")


if __name__ == "__main__":
    main()
