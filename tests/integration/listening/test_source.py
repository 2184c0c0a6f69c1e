"""The listening source over a real lake: answers, B1 (partition pruning), B2 (column pruning)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from kasoku.domains.listening.source import ListeningSource, in_range
from kasoku.domains.listening.tables import PLAYS, ref
from kasoku.domains.listening.tools import TOOLS, validate
from kasoku.engine.types import Query
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import Lake
from tests.plays import load_lake, make_plays

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return load_lake(tmp_path / "lake", {m: make_plays(m, 200, seed=i) for i, m in enumerate(MONTHS) if m != "2024-06"},
                     rollups=False)


@pytest.fixture
async def source(lake: Lake) -> AsyncIterator[ListeningSource]:
    pool = DuckDBPool(lake, workers=2, query_timeout=30)
    yield ListeningSource(lake, pool)
    pool.close()


def all_rows(lake: Lake) -> list[dict]:
    return pa.concat_tables([make_plays(m, 200, seed=i) for i, m in enumerate(MONTHS) if m != "2024-06"]).to_pylist()


async def test_top_tracks_matches_a_plain_count(lake: Lake, source: ListeningSource) -> None:
    result = await source.run(Query("listening", "top_tracks", {"start": "2024-03-01", "end": "2024-04-30", "limit": 100}, "u1"))
    rows = [r for r in all_rows(lake) if "2024-03" <= r["played_at"].strftime("%Y-%m") <= "2024-04"]
    expected = Counter((r["track_name"], r["artist_name"]) for r in rows)
    got = {(r["track_name"], r["artist"]): r["play_count"] for r in result.table.to_pylist()}
    assert got == dict(expected)
    assert result.table.column_names == ["track_name", "artist", "play_count", "total_minutes"]
    assert result.tags == frozenset({"month:2024-03", "month:2024-04"})
    assert result.version is not None and result.version == await source.catalog.current()


async def test_other_users_plays_are_not_counted(lake: Lake, source: ListeningSource) -> None:
    result = await source.run(Query("listening", "top_tracks", {"limit": 10}, "someone-else"))
    assert result.table.num_rows == 0


async def test_a_range_over_months_without_data_is_empty_not_an_error(source: ListeningSource) -> None:
    result = await source.run(Query("listening", "listening_stats", {"start": "2024-06-01", "end": "2024-06-30"}, "u1"))
    assert result.table.num_rows == 0
    result = await source.run(Query("listening", "top_tracks", {"start": "2030-01-01", "end": "2030-12-31"}, "u1"))
    assert result.table.num_rows == 0


async def test_stats_granularities(source: ListeningSource) -> None:
    by_month = await source.run(Query("listening", "listening_stats", {"granularity": "month"}, "u1"))
    assert by_month.table["period"].to_pylist() == [m for m in MONTHS if m != "2024-06"]
    assert set(by_month.table["track_count"].to_pylist()) == {200}
    weeks = await source.run(Query("listening", "listening_stats", {"granularity": "week", "start": "2024-01-01", "end": "2024-01-31"}, "u1"))
    assert all(p.startswith("2024-W0") for p in weeks.table["period"].to_pylist())


async def test_hours_and_search_and_plays(source: ListeningSource) -> None:
    hours = await source.run(Query("listening", "hourly_pattern", {}, "u1"))
    assert sum(hours.table["play_count"].to_pylist()) == 11 * 200
    assert set(hours.table["weekday"].to_pylist()) <= set(range(1, 8))
    found = await source.run(Query("listening", "search_tracks", {"q": "IDOL"}, "u1"))
    assert found.table.num_rows >= 1 and all(r["track_name"] == "Idol" for r in found.table.to_pylist())
    page = await source.run(Query("listening", "plays", {"start": "2024-01-01", "end": "2024-01-31", "limit": 5, "offset": 2}, "u1"))
    assert page.table.num_rows == 5
    times = page.table["played_at"].to_pylist()
    assert times == sorted(times)


async def test_b1_reads_only_the_touched_partitions_and_b2_only_the_needed_columns(lake: Lake, source: ListeningSource) -> None:
    params = validate("top_tracks", {"start": "2024-03-10", "end": "2024-04-20", "limit": 10})
    sql, args = TOOLS["top_tracks"].sql(ref(PLAYS, await source.catalog.current()), params)
    profile = await source.pool.profile(sql, ["u1", *args])
    assert profile.available
    read = profile.files_read
    assert len(read) == 2 and all("/month=3/" in f or "/month=4/" in f for f in read)
    # Projected: what the GROUP BY needs; user_id and played_at are only filtered on (pushed into the scan).
    assert profile.columns_read == {"track_name", "artist_name", "ms_played"}
    filters = " ".join(str(scan.filters) for scan in profile.scans)
    assert "user_id" in filters and "played_at" in filters


async def test_backwards_range_is_rejected(source: ListeningSource) -> None:
    from kasoku.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="backwards"):
        await source.run(Query("listening", "top_tracks", {"start": "2024-05-01", "end": "2024-04-01"}, "u1"))


async def test_months_in_range_clip_to_present_months(source: ListeningSource) -> None:
    params = validate("top_tracks", {"start": "2023-11-15", "end": "2024-02-02"})
    present = await source.catalog.months(await source.catalog.current(), PLAYS)
    assert in_range(present, params) == ["2024-01", "2024-02"]
    assert date(2024, 1, 1)  # ranges are calendar dates in UTC


async def test_an_answer_is_pinned_to_the_snapshot_it_read(lake: Lake, source: ListeningSource) -> None:
    """A new commit between two queries: the old snapshot still answers as before; the new one sees the plays."""
    query = Query("listening", "listening_stats", {"granularity": "month", "start": "2024-01-01", "end": "2024-01-31"}, "u1")
    before = await source.run(query)
    load_lake(lake, make_plays("2024-01", 5, seed=99), rollups=False)
    source.catalog.forget_current()  # the current snapshot id is reused for a fraction of a second
    after = await source.run(query)
    assert after.version is not None and before.version is not None and after.version > before.version
    assert before.table["track_count"].to_pylist() == [200] and after.table["track_count"].to_pylist() == [205]
    pinned = await source.raw("listening_stats", validate("listening_stats", dict(query.params)), "u1", before.version)
    assert pinned.equals(before.table)
