"""The JV-Link replay from the lake's raw records (racing.client='lake'): the same records, in the same
order, as JV-Link gives for the same data (the COM client over a scripted JV-Link serving the demo's
records) — and /api/v1/data answers from it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kasoku.config import Settings
from kasoku.domains.racing.clients import ComClient, ScriptedJVLink
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.domains.racing.demo import DemoData, generate, import_demo_lake
from kasoku.domains.racing.lake_import import import_files
from kasoku.errors import InvalidParameter
from kasoku.lake.ducklake import Lake
from kasoku.service import build_app
from tests.e2e.client.conftest import ServerThread


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoData, Lake]:
    base = tmp_path_factory.mktemp("replay")
    demo = generate()
    lake = Lake(str(base / "lake"))
    summary = import_demo_lake(lake, demo=demo)
    assert summary.raw_added == sum(len(v) for v in demo.files.values())  # no record repeats within a dataspec
    return demo, lake


@pytest.fixture
def clients(both: tuple[DemoData, Lake]) -> Iterator[tuple[ComClient, LakeClient, DemoData]]:
    demo, lake = both
    jvlink = ComClient(lambda: ScriptedJVLink(records=demo.files), sid="KASOKU", call_timeout=30.0,
                       sleep=lambda s: None)
    lakes = LakeClient(lake)
    yield jvlink, lakes, demo
    jvlink.close()
    lakes.close()


def test_stored_and_realtime_fetches_match_jvlink(clients: tuple[ComClient, LakeClient, DemoData]) -> None:
    files, lakes, demo = clients
    race = demo.race_ids[0]
    for spec, fromtime in (("RACE", "20240601000000"), ("RACE", "20240602000000-20240602235959"),
                           ("DIFF", "19860101000000"), ("YSCH", "19860101000000"), ("RACE", "20300101000000")):
        assert lakes.fetch_stored(spec, fromtime) == files.fetch_stored(spec, fromtime), (spec, fromtime)
    for spec, key in (("0B31", race), ("0B36", race), ("0B15", race[:8]), ("0B12", race), ("0B11", "20240608"),
                      ("0B31", "2030010105010101")):
        assert lakes.fetch_realtime(spec, key) == files.fetch_realtime(spec, key), (spec, key)
    assert lakes.fetch_stored("RACE", "20240601000000")  # not vacuous


def test_jvlink_validation_is_the_same(clients: tuple[ComClient, LakeClient, DemoData]) -> None:
    _, lakes, _ = clients
    with pytest.raises(InvalidParameter) as err:
        lakes.fetch_realtime("0B31", "2024")
    assert err.value.details.get("jvlink_code") == -114


def test_a_reimport_adds_no_raw_record(both: tuple[DemoData, Lake], tmp_path: Path) -> None:
    demo, lake = both
    path = tmp_path / "RACE.jvd"
    path.write_bytes(b"".join(demo.files["RACE"]))
    again = import_files(lake, [path], dataspec="RACE")
    assert again.raw_added == 0 and again.snapshot is None


def test_data_route_over_the_lake_client(both: tuple[DemoData, Lake]) -> None:
    demo, lake = both
    with ServerThread(build_app(Settings(lake=lake.url))) as server:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            r = http.get("/api/v1/data/RACE?from_time=20240601&to_time=20240601&limit=5")
            odds = http.get(f"/api/v1/realtime/odds/{demo.race_ids[0]}?type=win")
            tables = http.get("/api/v1/tables")
    assert r.status_code == 200 and r.headers["x-kasoku-source"] == "view"
    body = r.json()
    assert body["total_count"] > 0 and len(body["records"]) == 5
    assert odds.status_code == 200 and odds.json()["records"][0]["record_type"] == "O1"
    assert tables.status_code == 200  # the tables and the replay from one lake
