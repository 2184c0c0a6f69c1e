"""racing.client='com': what JV-Link delivers is answered from JV-Link and kept in the lake too
(the tables and the raw records), in the background, one import at a time."""

from __future__ import annotations

from pathlib import Path

import httpx

from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.domains.racing.builder import build_entry, build_race, build_win_odds
from kasoku.domains.racing.clients import ComClient, LakeClient, ScriptedJVLink
from kasoku.domains.racing.domain import RacingDomain
from kasoku.lake.ducklake import ALIAS, Lake

RACE = "2024060105030101"
RECORDS = [build_race(RACE, "テスト", 1600), build_entry(RACE, 1, "アオイソラ", pedigree_reg_num="2021100001"),
           build_entry(RACE, 2, "ミドリノカゼ", pedigree_reg_num="2021100002")]
ODDS = build_win_odds(RACE, {1: 2.4, 2: 3.1})
BAD_DATE = b"RA7" + b"20241340" + build_race(RACE, "テスト", 1600)[11:]  # creation date 2024-13-40


async def test_fetches_are_answered_and_kept_in_the_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    com = ComClient(lambda: ScriptedJVLink(records={"RACE": RECORDS, "0B31": [ODDS]}), sid="KASOKU", call_timeout=30.0, sleep=lambda s: None)
    settings = Settings(lake=lake.url, racing={"client": "com"})
    domain = RacingDomain(settings, lake=lake, client=com)
    app = create_app(settings, [domain])
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as http:
            page = await http.get("/api/v1/data/RACE?from_time=20240601&limit=10")
            odds = await http.get(f"/api/v1/realtime/odds/{RACE}?type=win")
            assert page.status_code == 200 and page.json()["total_count"] == 3
            assert odds.status_code == 200
            assert domain.keeper is not None
            domain.keeper.wait(60)
            status = (await http.get("/status")).json()
    assert status["kept_in_lake"] == {"imports": 2, "records": 4, "raw_added": 4, "skipped": 0, "failed": 0,
                                      "pending": 0}
    replay = LakeClient(lake)
    assert replay.fetch_stored("RACE", "20240601000000") == RECORDS  # the replay from the lake: same bytes
    assert replay.fetch_realtime("0B31", RACE) == [ODDS]
    con = lake.connect(read_only=True)
    try:
        names = con.execute(f"SELECT horse_name FROM {ALIAS}.entries ORDER BY horse_number").fetchall()
        win = con.execute(f"SELECT combination, odds FROM {ALIAS}.odds WHERE bet_type = 'win' ORDER BY 1").fetchall()
    finally:
        con.close()
    assert [n for (n,) in names] == ["アオイソラ", "ミドリノカゼ"]
    assert [float(o) for _, o in win] == [2.4, 3.1]


def test_a_record_the_import_refuses_is_skipped_not_the_fetch(tmp_path: Path) -> None:
    from kasoku.domains.racing.lake_keep import LakeKeeper

    lake = Lake(str(tmp_path / "lake"))
    keeper = LakeKeeper(lake)
    try:
        keeper.keep("RACE", [BAD_DATE, *RECORDS])
        keeper.wait(60)
        assert keeper.stats()["skipped"] == 1 and keeper.stats()["records"] == 3
        assert LakeClient(lake).fetch_stored("RACE", "20240101000000") == RECORDS
    finally:
        keeper.close()
