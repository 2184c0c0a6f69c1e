"""ListeningVersions: the snapshot id as the data version, and the tags a change between two snapshots makes stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.rollup_build import rebuild
from kasoku.domains.listening.source import OPEN_RANGE_TAG
from kasoku.domains.listening.versions import ListeningVersions
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.maintenance import vacuum
from tests.plays import artists_table, load_lake, make_plays


async def test_current_follows_commits_and_changes_name_the_months(tmp_path: Path) -> None:
    lake = load_lake(tmp_path / "lake", {m: make_plays(m, 30) for m in ("2024-01", "2024-02")})
    versions = ListeningVersions(lake)
    try:
        first = await versions.current()
        assert await versions.changes(first) == (first, frozenset())
        load_lake(lake, {"2024-03": make_plays("2024-03", 5, seed=3), "2024-01": make_plays("2024-01", 2, seed=4)})
        second = await versions.current()
        assert second > first
        assert await versions.changes(first) == (second, frozenset({"month:2024-01", "month:2024-03", OPEN_RANGE_TAG}))
        # Artists change genre answers of every month: everything of the dataset.
        import_tables(lake, make_plays("2024-01", 0), artists=artists_table({"Ado": ["j-pop"]}))
        third = await versions.current()
        assert await versions.changes(second) == (third, None)
        # A rebuild changes roll-ups without plays: everything too (conservative).
        rebuild(lake)
        assert (await versions.changes(third))[1] is None
        # A re-import that changes nothing makes no snapshot.
        load_lake(lake, make_plays("2024-03", 5, seed=3))
        assert await versions.current() == (await versions.changes(third))[0]
    finally:
        versions.close()


async def test_changes_through_the_pool_and_past_the_retention(tmp_path: Path) -> None:
    lake = load_lake(tmp_path / "lake", make_plays("2024-05", 10))
    pool = DuckDBPool(lake, workers=1)
    try:
        versions = ListeningVersions(lake, pool)
        start = await versions.current()
        load_lake(lake, make_plays("2024-06", 3, seed=1))
        assert (await versions.changes(start))[1] == frozenset({"month:2024-06", OPEN_RANGE_TAG})
        vacuum(lake, retention=timedelta(0))  # snapshots before now expire
        assert (await versions.changes(start))[1] is None  # the log no longer reaches back: everything
    finally:
        pool.close()
