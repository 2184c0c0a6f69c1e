"""The replay from the lake follows the lake's snapshot: an import is served by a running server
within a poll, without a notify or the dataspec's TTL, and drops only the dataspecs it added to."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from kasoku.config import Settings
from kasoku.domains.racing.builder import build_entry, build_horse, build_race, build_win_odds
from kasoku.domains.racing.lake_import import import_records, targets_of
from kasoku.domains.racing.replay_versions import raw_changes_since
from kasoku.lake.ducklake import Lake, current_snapshot
from kasoku.service import build_app
from tests.e2e.client.conftest import ServerThread

RACE = "2024060105030101"
LATER = "2024060205030201"
DEADLINE = 60.0


def put(lake: Lake, spec: str, records: list[bytes]) -> None:
    import_records(lake, records, targets=targets_of(records, spec), message=f"test {spec}")


def snapshot(lake: Lake) -> int:
    con = lake.connect(read_only=True)
    try:
        return current_snapshot(con)
    finally:
        con.close()


def changes(lake: Lake, since: int) -> frozenset[str] | None:
    con = lake.connect(read_only=True)
    try:
        return raw_changes_since(con, since)[1]
    finally:
        con.close()


def test_changes_name_the_dataspecs_an_import_added_to(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    put(lake, "DIFF", [build_horse("2021100001", "アオイソラ", data_creation_date="2024-05-30")])
    first = snapshot(lake)
    assert changes(lake, 0) is None  # before the raw table existed: everything
    put(lake, "RACE", [build_race(RACE, "テスト", 1600)])
    put(lake, "0B31", [build_win_odds(RACE, {1: 2.0, 2: 3.0})])
    assert changes(lake, first) == frozenset({"racing:RACE", "racing:0B31"})
    again = snapshot(lake)
    put(lake, "RACE", [build_race(RACE, "テスト", 1600)])  # the same bytes: no new snapshot, nothing added
    assert snapshot(lake) == again and changes(lake, again) == frozenset()


def test_a_running_server_serves_an_import_within_a_poll(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    put(lake, "RACE", [build_race(RACE, "テスト", 1600), build_entry(RACE, 1, "アオイソラ")])
    put(lake, "DIFF", [build_horse("2021100001", "アオイソラ", data_creation_date="2024-05-30")])
    settings = Settings(lake=lake.url, version_poll_interval=0.2)
    race_page = "/api/v1/data/RACE?from_time=20240601&limit=50"
    with ServerThread(build_app(settings)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get(race_page).json()["total_count"] == 2
        assert http.get(race_page).headers["x-cache"] == "hit"
        horse = http.get("/api/v1/master/horse/2021100001")
        assert horse.status_code == 200 and http.get("/api/v1/master/horse/2021100001").headers["x-cache"] == "hit"
        put(lake, "RACE", [build_race(LATER, "次走", 1800)])  # RACE's TTL is minutes: only the version can tell
        deadline = time.monotonic() + DEADLINE
        while http.get(race_page).json()["total_count"] != 3:
            if time.monotonic() > deadline:
                pytest.fail("the import never reached the cached RACE answer")
            time.sleep(0.05)
        assert http.get("/api/v1/master/horse/2021100001").headers["x-cache"] == "hit"  # DIFF untouched
