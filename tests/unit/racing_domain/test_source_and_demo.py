"""The racing source's tables, views and validation; policies; the demo generator."""

from __future__ import annotations

import base64

import orjson
import pytest

from kasoku.config import Settings
from kasoku.domains.racing.builder import build_race, build_win_odds
from kasoku.domains.racing.catalogue import DATASPECS, get_dataspec
from kasoku.domains.racing.demo import example_paths, generate
from kasoku.domains.racing.domain import client_from_settings, policy_for
from kasoku.domains.racing.jobs import job_fromtime
from kasoku.domains.racing.routes import fetch_args
from kasoku.domains.racing.source import data_tags, page_query, records_table, view_table
from kasoku.engine.arrow import json_columns
from kasoku.engine.keys import query_key
from kasoku.errors import ConfigError, InvalidParameter, UpstreamError

RACE = "2024060105030101"


def test_records_table_columns_and_tags() -> None:
    raws = [build_race(RACE, "テスト", 1600), build_win_odds(RACE, {1: 2.5, 2: 4.0})]
    table = records_table(raws)
    assert table.column("record_type").to_pylist() == ["RA", "O1"]
    assert table.column("race_id").to_pylist() == [RACE, RACE]
    assert table.column("day").to_pylist() == ["20240601", "20240601"]
    assert table.column("course").to_pylist() == ["05", "05"]
    assert orjson.loads(table.column("data")[0].as_py())["race_name_main"] == "テスト"
    assert data_tags("RACE", table) == {"racing:RACE", "race-day:20240601"}


def test_malformed_upstream_record_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as err:
        records_table([build_race(RACE)[:-50]])
    assert err.value.status == 502 and err.value.details["record"] == 1


def test_view_table_flags_data_as_json_and_gives_raw_as_base64() -> None:
    raw = build_race(RACE, "テスト", 1600)
    view = view_table(records_table([raw]), raw=True)
    assert view.column_names == ["record_type", "data", "raw"]
    assert json_columns(view.schema) == ["data"]
    assert base64.b64decode(view.column("raw")[0].as_py()) == raw
    assert view_table(records_table([raw]), raw=False).column_names == ["record_type", "data"]


def test_page_query_is_the_prefetch_key() -> None:
    """The odds route and the prefetcher must build the same key, else prefetch never hits."""
    assert query_key(page_query("0B31", key=RACE)) == query_key(page_query("0B31", key=RACE, limit=100, offset=0))
    assert query_key(page_query("0B31", key=RACE)) != query_key(page_query("0B32", key=RACE))


def test_fetch_args() -> None:
    assert fetch_args("RACE", "20240601", "20240602", 1, None) == {
        "fromtime": "20240601000000-20240602235959", "option": 1}
    assert fetch_args("DIFF", None, None, 1, None) == {"fromtime": "19860101000000", "option": 1}
    assert fetch_args("0B11", None, None, 1, "20240601") == {"key": "20240601"}
    for args, code in [(("XXXX", None, None, 1, None), -111), (("RACE", "x", None, 1, None), -112),
                       (("TOKU", "20240101", "20240102", 1, None), -113), (("0B31", None, None, 1, None), -114),
                       (("RACE", None, None, 0, None), -115)]:
        with pytest.raises(InvalidParameter) as err:
            fetch_args(*args)
        assert err.value.details["jvlink_code"] == code


def test_policies_follow_the_seed() -> None:
    race = policy_for(get_dataspec("RACE"))
    assert (race.ttl_l1, race.ttl_l2) == (300, 86400)
    assert (policy_for(get_dataspec("0B12")).ttl_l1, policy_for(get_dataspec("0B12")).ttl_l2) == (60, 60)
    assert policy_for(get_dataspec("0B31")).ttl_l2 == 60  # odds: the seed's minute, on the real odds feeds
    assert policy_for(get_dataspec("YSCH")).ttl_l2 == 604800
    assert all(policy_for(s).ttl_l1 <= 300 for s in DATASPECS.values())


def test_job_fromtime_uses_a_range_only_where_allowed() -> None:
    assert job_fromtime(get_dataspec("RACE"), "20240601", "20240602") == "20240601000000-20240602235959"
    assert job_fromtime(get_dataspec("DIFF"), "20240601", "20240602") == "20240601000000"


def test_client_from_settings_needs_an_archive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError):
        client_from_settings(Settings(lake=str(tmp_path)))
    client = client_from_settings(Settings(lake=str(tmp_path), racing_archive=str(tmp_path),
                                           racing_upstream_delay_ms=(20, 40)))
    assert client.name == "files"


def test_demo_is_deterministic() -> None:
    a, b, c = generate(7), generate(7), generate(8)
    assert a.files == b.files and a.race_ids == b.race_ids
    assert a.files["RACE"] != c.files["RACE"]
    assert {"RACE", "YSCH", "DIFF", "0B11", "0B12", "0B15", "0B31", "0B32"} == set(a.files)
    assert len(a.race_ids) == 48 and len(set(a.race_ids)) == 48
    assert example_paths()[0].startswith("/api/v1/data/RACE")


def test_prefetch_skips_races_older_than_the_upstream_keeps_realtime_data() -> None:
    import pyarrow as pa

    from kasoku.domains.racing.prefetch import Prefetcher
    from kasoku.domains.racing.source import FETCH, dataset_name
    from kasoku.engine.engine import Engine
    from kasoku.engine.types import Query, Result

    prefetcher = Prefetcher(Engine(l1_bytes=10**6), realtime_days=7, today=lambda: "20240610")
    scheduled: list[Query] = []
    prefetcher._schedule = scheduled.append  # type: ignore[method-assign]
    table = pa.table({"race_id": ["2024060105030101", "2024060905030101"]})
    prefetcher.on_result(Query(dataset_name("RACE"), FETCH, {}), Result(table=table))
    assert {q.params["key"] for q in scheduled} == {"2024060905030101"}
