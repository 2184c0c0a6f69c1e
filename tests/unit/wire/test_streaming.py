"""stream_batches over a real DuckDB: all rows in order, bounded buffering, errors, early exit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import duckdb
import pytest

from kasoku.lake.streaming import stream_batches


class Runner:
    """A cursor runner like DuckDBPool.run, recording how far the producer got."""

    def __init__(self) -> None:
        self.conn = duckdb.connect(":memory:")
        self.finished = threading.Event()

    async def __call__(self, fn: Callable[[Any], None]) -> None:
        cur = self.conn.cursor()
        try:
            await asyncio.to_thread(fn, cur)
        finally:
            cur.close()
            self.finished.set()


async def test_all_rows_in_order() -> None:
    runner = Runner()
    seen = [v for b in [b async for b in stream_batches(runner, "SELECT i FROM range(?) t(i) ORDER BY i", [10_000],
                                                        batch_size=1024)] for v in b.column("i").to_pylist()]
    assert seen == list(range(10_000))


async def test_the_producer_waits_for_a_slow_consumer() -> None:
    runner = Runner()
    stream = stream_batches(runner, "SELECT i FROM range(1000000) t(i)", batch_size=1000, max_buffered=2)
    first = await anext(stream)
    await asyncio.sleep(0.2)  # the producer can be at most max_buffered batches ahead
    assert first.num_rows == 1000 and not runner.finished.is_set()
    await stream.aclose()
    await asyncio.wait_for(asyncio.to_thread(runner.finished.wait, 5), 6)
    assert runner.finished.is_set()  # leaving early released the cursor


async def test_query_errors_reach_the_consumer() -> None:
    with pytest.raises(duckdb.Error):
        async for _ in stream_batches(Runner(), "SELECT * FROM no_such_table"):
            pass


async def test_runner_failure_before_any_batch() -> None:
    async def broken(fn: Callable[[Any], None]) -> None:
        raise RuntimeError("pool closed")

    with pytest.raises(RuntimeError, match="pool closed"):
        async for _ in stream_batches(broken, "SELECT 1"):
            pass
