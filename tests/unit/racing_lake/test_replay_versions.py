"""One ReplayVersions serves every dataspec's dataset: their polls share one read of the lake."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kasoku.domains.racing.builder import build_race
from kasoku.domains.racing.lake_import import import_records, targets_of
from kasoku.domains.racing.replay_versions import ReplayVersions
from kasoku.lake.ducklake import Lake

RACE = "2024060105030101"


async def test_polls_of_every_dataset_share_one_read(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    records = [build_race(RACE, "テスト", 1600)]
    import_records(lake, records, targets=targets_of(records, "RACE"))
    now = [0.0]
    versions = ReplayVersions(lake, clock=lambda: now[0])
    try:
        before = await versions.current()
        second = [build_race(RACE, "テスト2", 1600, data_creation_date="2024-06-02")]
        import_records(lake, second, targets=targets_of(second, "RACE"))
        assert await versions.current() == before and versions.queries == 1  # shared for a moment
        now[0] += 1.0
        first = await asyncio.gather(*(versions.current() for _ in range(40)))
        assert first == [before + 1] * 40 and versions.queries == 2
        changed = await asyncio.gather(*(versions.changes(before) for _ in range(40)))
        assert changed == [(before + 1, frozenset({"racing:RACE"}))] * 40 and versions.queries == 3
        assert await versions.changes(0) == (before + 1, None)  # before the raw table existed: everything
    finally:
        versions.close()
