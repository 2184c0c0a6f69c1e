"""The cache adoption flowchart (when does each layer pay?), applied to what this server has measured.

    slow (>= 3 s)? → B1 partition pruning → still >= 2 s? → B2 column pruning
    → >= 30 % repeated queries? → B4 result cache; else >= 5 s? → C2 pre-aggregation
    → still >= 5 s? → B3 connection reuse

The inputs are the engine's own records: source run times (the cost of a miss, per dataset)
and the share of answered queries whose key had been asked before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kasoku.engine.metrics import Metrics

SLOW_S, STILL_SLOW_S, VERY_SLOW_S, REPEATED_SHARE = 3.0, 2.0, 5.0, 0.30


@dataclass(frozen=True)
class Step:
    question: str
    measured: str
    answer: bool
    then: str


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def advise(metrics: Metrics) -> dict[str, Any]:
    """Walk the flowchart on measured figures; returns the path taken and the advice."""
    runs = list(metrics.slow_log)
    p95 = _p95([r["seconds"] for r in runs])
    raw_p95 = _p95([r["seconds"] for r in runs if r.get("source") == "raw"])
    repeated = metrics.repeated_share()
    steps: list[Step] = []
    advice: list[str] = []
    slow = p95 >= SLOW_S
    steps.append(Step("source p95 >= 3 s?", f"{p95:.3f} s over {len(runs)} source runs", slow,
                      "B1: read only the month partitions of the range" if slow else "no optimisation needed"))
    if slow:
        advice.append("B1 partition pruning (kasoku prunes by month: plays are partitioned by year/month in the DuckLake)")
        still = p95 >= STILL_SLOW_S
        steps.append(Step("still >= 2 s?", f"{p95:.3f} s", still, "B2: read only the needed columns" if still else "done"))
        if still:
            advice.append("B2 column pruning (every tool names its columns)")
            rep = repeated >= REPEATED_SHARE
            steps.append(Step("repeated queries >= 30 %?", f"{repeated:.1%}", rep,
                              "B4: result cache" if rep else "check for very slow queries"))
            if rep:
                advice.append("B4 query-result cache (on: L1 memory, L2 Redis when configured)")
            else:
                very = raw_p95 >= VERY_SLOW_S
                steps.append(Step("raw queries >= 5 s?", f"{raw_p95:.3f} s", very, "C2: pre-aggregated roll-ups" if very else "done"))
                if very:
                    advice.append("C2 pre-aggregation (kasoku rollup rebuild; settings.rollups = true)")
                    steps.append(Step("still >= 5 s after roll-ups?", f"{raw_p95:.3f} s raw", very,
                                      "B3: reuse DuckDB connections (pooled)"))
                    advice.append("B3 connection reuse (on: one database, a cursor per worker)")
    return {
        "measured": {"source_runs": len(runs), "source_p95_s": round(p95, 4), "raw_p95_s": round(raw_p95, 4),
                     "repeated_share": round(repeated, 4)},
        "path": [step.__dict__ for step in steps],
        "advice": advice or ["nothing: queries are fast enough"],
    }
