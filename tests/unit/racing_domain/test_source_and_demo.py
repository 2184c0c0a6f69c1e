"""The racing source's tables, views and validation; policies; the demo generator."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from kasoku.config import Settings
from kasoku.domains.racing.builder import build_race, build_win_odds
from kasoku.domains.racing.catalogue import DATASPECS, get_dataspec
from kasoku.domains.racing.demo import example_paths, generate
from kasoku.domains.racing.domain import RacingDomain, client_from_settings, policy_for
from kasoku.domains.racing.jobs import job_fromtime
from kasoku.domains.racing.records import parse_record
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


def test_the_default_client_reads_the_lake(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kasoku.lake.ducklake import Lake

    client = client_from_settings(Settings(lake=str(tmp_path), racing={"upstream_delay_ms": (20, 40)}), Lake(str(tmp_path)))
    assert client.name == "lake"
    with pytest.raises(ConfigError):
        RacingDomain(Settings(lake=str(tmp_path))).client  # neither a lake nor a client


def test_demo_is_deterministic() -> None:
    a, b, c = generate(7, races_per_day=2), generate(7, races_per_day=2), generate(8, races_per_day=2)
    assert a.files == b.files and a.race_ids == b.race_ids
    assert a.files["RACE"] != c.files["RACE"]
    assert set(a.files) == {"RACE", "YSCH", "DIFF", "0B11", "0B12", "0B15", "0B31", "0B32", "0B33", "0B34",
                            "0B35", "0B36"}
    assert len(a.race_ids) == 12 and len(set(a.race_ids)) == 12
    assert example_paths()[0].startswith("/api/v1/data/RACE")
    full = generate()
    assert f"/api/v1/master/horse/{full.horse_ids[0]}" in example_paths()
    assert f"/api/v1/realtime/odds/{full.race_ids[0]}?type=win" in example_paths()


def test_demo_races_are_consistent_across_their_records() -> None:
    """One field of horses per race in RA, SE, WH, O1-O6 and HR; payouts are the final odds."""
    demo = generate(11, races_per_day=2)
    by_race: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for spec in ("0B11", "0B12", "0B31", "0B32", "0B33", "0B34", "0B35", "0B36"):
        for raw in demo.files[spec]:
            data = parse_record(raw).data
            by_race.setdefault(data["race_id"], {}).setdefault(data["record_type"], []).append(data)
    favourites_won = 0
    for race_id, records in by_race.items():
        (ra,), (hr,), (wh,) = records["RA"], records["HR"], records["WH"]
        entries = sorted(records["SE"], key=lambda se: se["horse_number"])
        runners = len(entries)
        assert ra["num_entries"] == ra["num_starters"] == runners and ra["weekday_code"] in ("1", "2")
        assert all(se["horse_name"] and se["jockey_short_name"] and se["trainer_short_name"] for se in entries)
        assert [w["horse_name"] for w in wh["horse_weight_infos"]] == [se["horse_name"] for se in entries]
        assert [w["horse_weight"] for w in wh["horse_weight_infos"]] == [se["horse_weight"] for se in entries]
        for rtype, group, pairs in (("O1", "win_odds", runners), ("O2", "quinella_odds", runners * (runners - 1) // 2),
                                    ("O3", "wide_odds", runners * (runners - 1) // 2),
                                    ("O4", "exacta_odds", runners * (runners - 1)),
                                    ("O5", "trio_odds", runners * (runners - 1) * (runners - 2) // 6),
                                    ("O6", "trifecta_odds", runners * (runners - 1) * (runners - 2))):
            (odds,) = records[rtype]
            assert (odds["num_entries"], odds["num_starters"], len(odds[group])) == (runners, runners, pairs), rtype
        o1 = records["O1"][0]["win_odds"]
        winner = next(se for se in entries if se["confirmed_placing"] == 1)
        assert hr["win_payback"][0]["number"] == f"{winner['horse_number']:02d}"
        assert hr["win_payback"][0]["payout"] == round(o1[winner["horse_number"] - 1]["odds"] * 100)
        trifecta = {row["combination"]: row["odds"] for row in records["O6"][0]["trifecta_odds"]}
        top3 = sorted(entries, key=lambda se: se["confirmed_placing"])[:3]
        key = "".join(f"{se['horse_number']:02d}" for se in top3)
        assert hr["trifecta_payback"][0] == {"number": key, "payout": round(trifecta[key] * 100),
                                             "popularity_rank": hr["trifecta_payback"][0]["popularity_rank"]}
        favourites_won += winner["win_popularity_rank"] <= 3
    assert favourites_won >= len(by_race) // 3  # results follow the odds (not always the favourite)


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
