"""Summary figures of a list of timings (seconds in, milliseconds out)."""

from __future__ import annotations

import math
import statistics


def summary_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(s * 1000 for s in samples)

    def pct(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"mean": statistics.fmean(ordered), "stdev": statistics.pstdev(ordered), "min": ordered[0],
            "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": ordered[-1]}
