"""The pooled DuckDB runner on local and S3 lakes: pruning evidence, timeouts, concurrency."""

from __future__ import annotations

import asyncio
import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kasoku.errors import QueryTimeout
from kasoku.lake.duckdb_pool import DuckDBPool, explain_analyze, open_connection
from kasoku.lake.ducklake import Lake
from tests.plays import load_lake, make_plays

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
SLOW_SQL = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
PLAYS = "lake.plays"


def month_range(first: str, last: str) -> str:
    """The tools' kind of filter: a [start, end) range on played_at."""
    y, m = int(last[:4]), int(last[5:])
    end = f"{y + m // 12:04d}-{m % 12 + 1:02d}"
    return f"played_at >= TIMESTAMPTZ '{first}-01 00:00:00+00' AND played_at < TIMESTAMPTZ '{end}-01 00:00:00+00'"


@pytest.fixture
def year_lake(lake: Lake) -> Lake:
    return load_lake(lake, {m: make_plays(m, 40) for m in MONTHS}, rollups=False)


@pytest.fixture
def pool(year_lake: Lake) -> DuckDBPool:
    p = DuckDBPool(year_lake, workers=2, query_timeout=30.0, threads=2)
    yield p
    p.close()


async def test_query_over_the_lake_table(pool: DuckDBPool, year_lake: Lake) -> None:
    got = await pool.arrow(f"SELECT month(played_at) AS month, count(*) AS n FROM {PLAYS} WHERE {month_range('2024-03', '2024-04')} "
                           "GROUP BY month ORDER BY month")
    assert got.to_pylist() == [{"month": 3, "n": 40}, {"month": 4, "n": 40}]
    # Worker cursors inherit the pinned zone: timestamps come back as UTC on any host.
    ts = await pool.arrow(f"SELECT played_at FROM {PLAYS} LIMIT 1")
    assert ts.schema.field("played_at").type == pa.timestamp("us", tz="UTC")


async def test_profile_shows_partition_and_column_pruning(pool: DuckDBPool, year_lake: Lake) -> None:
    """B1: only the range's month files are opened (partitioned by year/month). B2: only the needed columns are read."""
    sql = (f"SELECT track_id, sum(ms_played) AS ms FROM {PLAYS} WHERE {month_range('2024-06', '2024-07')} "
           "GROUP BY track_id ORDER BY ms DESC LIMIT 5")
    prof = await pool.profile(sql)
    assert len(prof.scans) == 1 and prof.scans[0].files_read == 2
    assert all("/plays/year=2024/month=6/" in f or "/plays/year=2024/month=7/" in f for f in prof.files_read)
    assert prof.columns_read == {"track_id", "ms_played"}  # played_at only filtered on, pushed into the scan
    everything = await pool.profile(f"SELECT count(DISTINCT track_id) FROM {PLAYS}")
    assert everything.scans[0].files_read == 12


async def test_timeout_interrupts_and_pool_recovers(year_lake: Lake) -> None:
    pool = DuckDBPool(year_lake, workers=1, query_timeout=30.0)
    try:
        assert (await pool.arrow("SELECT 1 AS x")).to_pylist() == [{"x": 1}]
        worker = await pool.run(lambda cur: threading.get_ident())
        with pytest.raises(QueryTimeout, match="0.3 s") as info:
            await pool.arrow(SLOW_SQL, timeout=0.3)
        assert info.value.status == 504
        # The only worker, now with a fresh cursor, serves the next query.
        assert await pool.run(lambda cur: threading.get_ident()) == worker
        got = await pool.arrow(f"SELECT count(*) AS n FROM {PLAYS}")
        assert got.to_pylist() == [{"n": 480}]
        health = await pool.health()
        assert health["ok"] is True and health["timeouts"] == 1 and health["reconnects"] == 1
        assert health["workers"] == 1 and health["latency_ms"] >= 0
    finally:
        pool.close()


def test_run_sync_timeout(year_lake: Lake) -> None:
    pool = DuckDBPool(year_lake, workers=1, query_timeout=0.3)
    try:
        with pytest.raises(QueryTimeout):
            pool.run_sync(lambda cur: cur.execute(SLOW_SQL).fetchall())
        assert pool.run_sync(lambda cur: cur.execute("SELECT 42").fetchall()) == [(42,)]
    finally:
        pool.close()


async def test_queued_call_times_out_without_starting(year_lake: Lake) -> None:
    """A call whose deadline passes while every worker is busy never starts."""
    pool = DuckDBPool(year_lake, workers=1)
    started = threading.Event()
    try:
        slow = asyncio.ensure_future(pool.arrow(SLOW_SQL, timeout=0.6))
        await asyncio.sleep(0.05)  # let the slow query take the only worker
        t0 = time.monotonic()
        with pytest.raises(QueryTimeout):
            await pool.run(lambda cur: started.set(), timeout=0.2)
        assert time.monotonic() - t0 < 0.5  # not held until the slow query ends
        with pytest.raises(QueryTimeout):
            await slow
        assert not started.is_set()
        assert (await pool.arrow("SELECT 7 AS x")).to_pylist() == [{"x": 7}]
    finally:
        pool.close()


async def test_cancelled_caller_interrupts_query(year_lake: Lake) -> None:
    pool = DuckDBPool(year_lake, workers=1)
    try:
        task = asyncio.ensure_future(pool.arrow(SLOW_SQL, timeout=60))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await pool.arrow("SELECT 1 AS x", timeout=10)).to_pylist() == [{"x": 1}]
    finally:
        pool.close()


async def test_many_concurrent_queries(pool: DuckDBPool, year_lake: Lake) -> None:
    async def one(m: str) -> tuple[str, int]:
        t = await pool.arrow(f"SELECT sum(ms_played) AS ms FROM {PLAYS} WHERE {month_range(m, m)}")
        return m, t["ms"][0].as_py()

    results = await asyncio.gather(*(one(MONTHS[i % 12]) for i in range(60)))
    expected = {m: pc.sum(make_plays(m, 40)["ms_played"]).as_py() for m in MONTHS}
    assert all(ms == expected[m] for m, ms in results)


def test_open_connection_baseline_and_explain_helper(year_lake: Lake) -> None:
    con = open_connection(year_lake)
    try:
        prof = explain_analyze(con, f"SELECT count(DISTINCT played_at) FROM {PLAYS} WHERE {month_range('2024-12', '2024-12')}")
        assert prof.available and prof.rows_returned == 1
        assert prof.scans[0].files_read == 1 and prof.columns_read == {"played_at"}
        t = con.execute(f"SELECT played_at FROM {PLAYS} LIMIT 1").to_arrow_table()
        assert t.schema.field("played_at").type == pa.timestamp("us", tz="UTC")
    finally:
        con.close()


def test_a_first_query_imports_nothing_while_serving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """DuckDB's Python client imports pandas (and more) on a process's first query with
    parameters, holding the GIL (~1 s on a busy machine): the pool does it while starting, so
    no query made later freezes the event loop for it. A fresh interpreter, as a server is."""
    import subprocess
    import sys
    from pathlib import Path

    local = Lake(str(tmp_path / "lake"))
    load_lake(local, {"2024-01": make_plays("2024-01", 5)}, rollups=False)
    code = (
        "import asyncio, sys\n"
        "from kasoku.lake.duckdb_pool import DuckDBPool\n"
        "from kasoku.lake.ducklake import Lake\n"
        f"pool = DuckDBPool(Lake({str(tmp_path / 'lake')!r}), workers=1, threads=1)\n"
        "before = set(sys.modules)\n"
        "t = asyncio.run(pool.arrow('SELECT count(*) AS n FROM lake.plays WHERE ms_played > ?', [0]))\n"
        "assert t.column('n')[0].as_py() == 5\n"
        "print(sorted(set(sys.modules) - before))\n"
        "pool.close()\n")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(root / "src")}, check=True).stdout
    assert out.strip() == "[]", out
