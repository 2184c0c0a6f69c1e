"""The bench client's statistics (no timing assertions: only counts and order)."""

from __future__ import annotations

from kasoku.bench import BenchResult, format_result


def test_percentiles_and_summary() -> None:
    result = BenchResult("http://x", 100, 4, 2.0, [float(i) for i in range(1, 101)], {200: 100}, 1000)
    s = result.summary()
    assert (s["min_ms"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]) == (1.0, 50.0, 95.0, 99.0, 100.0)
    assert s["requests_per_s"] == 50.0
    assert "p99 99.000" in format_result(result)
