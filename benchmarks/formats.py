"""Payload bytes and encode time per format x coding for one 10 000-row plays result.

Encode time is what a miss pays once (the bodies are then kept on the cache entry); a hit
pays neither. Ratios are against JSON identity.

    PYTHONPATH=src python -m benchmarks.formats [--rows 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.synthetic import plays_table
from kasoku.api import compression
from kasoku.api.encoders import ENCODERS, encode

CODINGS = ["identity", "br", "zstd", "gzip", "lz4"]


def best_ms(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000.0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description="bytes and encode ms per format and coding")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    table = plays_table(args.rows)
    meta = {"tool": "plays", "user_id": "me"}
    base = len(encode(table, meta, "data", "json"))
    print(f"{args.rows:,} rows x {table.num_columns} columns; best of {args.repeat}; ratio = bytes / JSON identity ({base:,} B)")
    print(f"{'format':<9}{'coding':<10}{'bytes':>12}{'ratio':>8}{'format ms':>11}{'coding ms':>11}{'total ms':>10}")
    for fmt in ENCODERS:
        raw = encode(table, meta, "data", fmt)
        fmt_ms = best_ms(lambda: encode(table, meta, "data", fmt), args.repeat)
        for coding in CODINGS:
            packed = compression.compress(raw, coding)
            code_ms = best_ms(lambda: compression.compress(raw, coding), args.repeat) if coding != "identity" else 0.0
            print(f"{fmt:<9}{coding:<10}{len(packed):>12,}{len(packed) / base:>8.3f}{fmt_ms:>11.2f}{code_ms:>11.2f}"
                  f"{fmt_ms + code_ms:>10.2f}")


if __name__ == "__main__":
    main()
