"""The parser against the real records in shared/reference/jvdata-samples: every sample
decodes, rebuilds, and holds the values a person reads in it (names, dates, amounts, odds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kasoku.domains.racing.builder import build_record
from kasoku.domains.racing.layouts import LAYOUTS, layout_for_length
from kasoku.domains.racing.records import creation_date_of, parse_record, race_key_of, record_type_of
from tests.samples.paths import sample_files, samples_dir

SAMPLES = sample_files()


def _sample(name: str) -> dict[str, Any]:
    return parse_record((samples_dir() / f"{name}.jvd").read_bytes()).data


def test_every_record_type_and_legacy_layout_has_a_sample() -> None:
    assert len(SAMPLES) == 45
    assert {p.stem[:2] for p in SAMPLES} == set(LAYOUTS)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_parses_and_helpers_agree(path: Path) -> None:
    raw = path.read_bytes()
    record = parse_record(raw, keep_raw=True)
    assert record.record_type == path.stem[:2] == record_type_of(raw)
    assert record.raw == raw
    assert record.data["data_creation_date"] == creation_date_of(raw)
    assert record.data.get("race_id") == race_key_of(raw)
    assert parse_record(raw[:-2]).data == record.data  # CR LF is optional
    assert record.data.get("_layout") == ("V4802" if path.stem.endswith("_V4802") else None)
    layout = layout_for_length(record.record_type, len(raw))
    assert layout is not None and layout.variant == (path.stem[3:] if "_" in path.stem else "")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_builder_rewrites_every_sample(path: Path) -> None:
    """parse -> build -> parse is the identity on real data: the builder inverts every field."""
    raw = path.read_bytes()
    data = parse_record(raw).data
    rebuilt = build_record(data["record_type"], **data)
    assert len(rebuilt) == len(raw)
    assert parse_record(rebuilt).data == data


def test_race_and_entry() -> None:
    ra = _sample("RA")
    assert ra["race_id"] == "2023090201020701" and ra["weekday_code"] == "1"  # 1 = Saturday (2023-09-02)
    assert (ra["distance"], ra["post_time"], ra["track_code"]) == (1200, "09:50", "17")
    assert ra["purse_money"] == [55000, 22000, 14000, 8300, 5500, 0, 0]
    se = _sample("SE")
    assert se["race_id"] == "2023090201020701"
    assert (se["data_code"], se["data_creation_date"]) == ("2", "2023-09-01")
    assert (se["racecourse_code"], se["race_number"], se["horse_number"]) == ("01", "01", 1)
    assert se["horse_name"] == "メジャーデビュー"
    assert se["pedigree_reg_num"] == "2021100446"
    assert se["owner_name_individual"] == "石川　秀守"
    assert se["carrying_weight"] == 54.0
    assert se["horse_weight"] is None  # all spaces before the weigh-in


def test_payouts_and_votes() -> None:
    hr = _sample("HR")
    assert hr["win_payback"] == [{"number": "06", "payout": 560, "popularity_rank": 2}]
    assert hr["trifecta_payback"] == [{"number": "060403", "payout": 12980, "popularity_rank": 38}]
    h1 = _sample("H1")
    assert h1["num_starters"] == 11 and h1["place_payout_key"] == "3"
    assert h1["win_votes"][0] == {"horse_number": 1, "votes": 4243, "popularity_rank": 7}
    assert h1["quinella_votes"][0]["combination"] == "0102" and h1["trio_votes"][0]["combination"] == "010203"
    assert (h1["win_total_votes"], h1["trio_total_votes"]) == (394142, 611738)
    h6 = _sample("H6")
    assert len(h6["trifecta_votes"]) == 990  # 11 x 10 x 9 ordered triples
    assert h6["trifecta_votes"][0] == {"combination": "010203", "votes": 86, "popularity_rank": 448}
    assert h6["trifecta_total_votes"] == 1232140
    wf = _sample("WF")
    assert (wf["meet_year"], wf["meet_date"], wf["total_tickets_sold"]) == ("2023", "0827", 6008246)
    assert wf["target_races"][0] == {"racecourse_code": "01", "meet_round": "02", "meet_day": "06",
                                     "race_number": "10"}
    assert wf["payout_info"] == [{"combination": "1414041412", "payout": 451740, "winning_tickets": 1064}]


def test_odds() -> None:
    o1 = _sample("O1")
    assert len(o1["win_odds"]) == o1["num_starters"] == 11
    assert o1["win_odds"][0] == {"horse_number": 1, "odds": 78.9, "popularity_rank": 7}
    assert o1["place_odds"][0] == {"horse_number": 1, "min_odds": 3.2, "max_odds": 23.3, "popularity_rank": 6}
    o2 = _sample("O2")
    assert len(o2["quinella_odds"]) == 55  # 11 horses -> C(11, 2) pairs
    assert o2["quinella_odds"][0] == {"combination": "0102", "odds": 457.9, "popularity_rank": 34}
    o3 = _sample("O3")
    assert len(o3["wide_odds"]) == 55 and o3["wide_total_votes"] == 430676
    assert o3["wide_odds"][0] == {"combination": "0102", "min_odds": 69.7, "max_odds": 73.4, "popularity_rank": 31}
    o4 = _sample("O4")
    assert len(o4["exacta_odds"]) == 110
    assert o4["exacta_odds"][0] == {"combination": "0102", "odds": 1538.6, "popularity_rank": 70}
    o5 = _sample("O5")
    assert len(o5["trio_odds"]) == 165
    assert o5["trio_odds"][1] == {"combination": "010204", "odds": 152.1, "popularity_rank": 30}
    o6 = _sample("O6")
    assert len(o6["trifecta_odds"]) == 990 and o6["trifecta_total_votes"] == 1232140
    assert o6["trifecta_odds"][0] == {"combination": "010203", "odds": 10387.2, "popularity_rank": 448}


def test_weights_predictions_and_notices() -> None:
    wh = _sample("WH")
    assert len(wh["horse_weight_infos"]) == 11
    assert wh["horse_weight_infos"][0] == {"horse_number": 1, "horse_name": "メイオウ", "horse_weight": 402,
                                           "weight_change_sign": "-", "weight_change_diff": 10}
    dm = _sample("DM")
    assert dm["data_creation_time"] == "14:36"
    assert dm["mining_predictions"][0] == {"horse_number": 1, "predicted_finish_time": 162.45,
                                           "error_margin_plus": 0.41, "error_margin_minus": 0.13}
    tm = _sample("TM")
    assert tm["mining_predictions"][0] == {"horse_number": 1, "prediction_score": 37.5}
    av = _sample("AV")
    assert (av["horse_number"], av["horse_name"], av["exclusion_reason_code"]) == (6, "フォトンブルー", "001")
    jc = _sample("JC")
    assert (jc["horse_name"], jc["after_jockey_name"], jc["before_jockey_name"]) == (
        "ファンネルマーク", "山田敬士", "柴山雄一")
    assert (jc["after_jockey_code"], jc["after_weight_carried"]) == ("01173", 56.0)
    tc = _sample("TC")
    assert (tc["after_post_time"], tc["before_post_time"]) == ("14:36", "14:35")
    cc = _sample("CC")
    assert (cc["after_distance"], cc["after_track_code"], cc["before_distance"], cc["reason_code"]) == (
        1600, "23", 1800, "4")
    we = _sample("WE")
    assert (we["racecourse_code"], we["weather_code"], we["turf_track_condition_code"]) == ("01", "1", "2")
    jg = _sample("JG")
    assert (jg["horse_name"], jg["pedigree_reg_num"], jg["entry_order"]) == ("インザオベーション", "2019105628", 1)


def test_people_masters() -> None:
    ks = _sample("KS")
    assert ks["jockey_code"] == "00422"
    assert ks["jockey_name"] == "内田　博幸"  # the inner full-width space is kept
    assert ks["jockey_name_short"] == "内田博幸"
    assert ks["birth_date"] == "1970-07-26"
    assert ks["license_revoked_date"] is None
    assert ks["performance_stats"][0]["year"] == 2023
    assert _sample("CH")["trainer_name"] == "国枝　栄"
    bn = _sample("BN")
    assert (bn["owner_code"], bn["owner_name_with_corp"], bn["owner_name_kana"]) == (
        "002803", "株式会社　キーファーズ", "ｷｰﾌｧｰｽﾞ")
    assert bn["silk_colors_code"] == "白，鼠元禄，袖鼠縦縞"
    assert (bn["performance_stats"][0]["year"], bn["performance_stats"][0]["prize_money"]) == (2023, 1307200)
    br, old = _sample("BR"), _sample("BR_V4802")
    assert (br["breeder_code"], br["breeder_name_english"], br["address"]) == ("00001400", "Tsuji Bokujo", "浦河郡")
    assert (old["breeder_code"], old["breeder_name_with_corp"], old["_layout"]) == ("000014", "辻　牧場", "V4802")


def test_horse_masters() -> None:
    um = _sample("UM")
    assert (um["pedigree_reg_num"], um["horse_name"]) == ("2012101547", "シゲルシチフクジン")
    assert um["birth_date"] == "2012-04-02" and um["data_creation_date"] == "2023-08-28"
    assert um["pedigree_3gen"][0] == {"breeding_reg_num": "1120002127", "horse_name": "ストーミングホーム"}
    assert (um["breeder_code"], um["owner_code"], um["owner_name"]) == ("81154000", "674004", "森中　蕃")
    assert um["registered_race_count"] == 44
    old = _sample("UM_V4802")
    assert old["_layout"] == "V4802" and old["horse_name"] == "スケールアップ"
    assert old["pedigree_3gen"][0] == {"breeding_reg_num": "11202216", "horse_name": "カネヒキリ"}
    assert (old["breeder_code"], old["breeder_name"]) == ("600330", "アサヒ牧場")
    assert old["birthplace_name"] == "新冠町"
    assert (old["owner_code"], old["owner_name"], old["registered_race_count"]) == ("330031", "高岡　浩行", 35)
    hn, hn_old = _sample("HN"), _sample("HN_V4802")
    assert (hn["horse_name"], hn["horse_name_english"], hn["birth_year"]) == ("マーヴェラスクイン",
                                                                              "Marvelous Queen", 2016)
    assert (hn["sire_breeding_reg_num"], hn["birthplace_name"]) == ("1120002320", "新ひだか町")
    assert (hn_old["breeding_reg_num"], hn_old["horse_name"], hn_old["sire_breeding_reg_num"]) == (
        "12433406", "Bugle", "11406386")
    sk, sk_old = _sample("SK"), _sample("SK_V4802")
    assert (sk["birth_date"], sk["breeder_code"], sk["birthplace_name"]) == ("2021-02-22", "51033200", "新冠町")
    assert sk["three_gen_pedigree_breeding_reg_nums"][0] == "1120002462"
    assert (sk_old["breeder_code"], sk_old["three_gen_pedigree_breeding_reg_nums"][0]) == ("800708", "11406820")
    bt, bt_old = _sample("BT"), _sample("BT_V4802")
    assert (bt["breeding_reg_num"], bt["lineage_name"]) == ("1120002086", "ディープインパクト")
    assert bt["lineage_description"].startswith("サンデーサイレンスは生涯に１２世代の産駒を残した。")
    assert (bt_old["breeding_reg_num"], bt_old["lineage_id"]) == ("11202086", "010108020101020107")
    hy = _sample("HY")
    assert (hy["horse_name"], hy["horse_name_meaning"]) == ("ネクストヒロイン", "次の主役")


def test_sales_records_courses_registrations_training() -> None:
    hs, hs_old = _sample("HS"), _sample("HS_V4802")
    assert (hs["market_name"], hs["market_start_date"], hs["trade_price"]) == ("北海道サマーセール", "2023-08-21",
                                                                               2750000)
    assert (hs_old["market_name"], hs_old["trade_price"], hs_old["sire_breeding_reg_num"]) == (
        "セレクトセール", 16500000, "11202561")
    rc = _sample("RC")
    assert (rc["distance"], rc["record_time"], rc["track_code"]) == (1200, 67.9, "17")
    assert rc["record_holders"][0]["horse_name"] == "ポメランチェ"
    assert (rc["record_holders"][0]["jockey_name"], rc["record_holders"][0]["impost_weight"]) == ("藤岡　佑介", 54.0)
    cs = _sample("CS")
    assert (cs["racecourse_code"], cs["distance"], cs["course_revision_date"]) == ("01", 1000, "1986-01-01")
    assert cs["course_description"].startswith("スタート地点は向正面の真ん中付近")
    tk = _sample("TK")
    assert (tk["race_name_main"], tk["race_name_main_english"], tk["num_entries"]) == (
        "知床特別", "SHIRETOKO TOKUBETSU", 22)
    assert len(tk["entry_horses"]) == 22
    assert tk["entry_horses"][0]["serial_number"] == 1 and tk["entry_horses"][0]["horse_name"] == "アスクエピソード"
    ys = _sample("YS")
    assert ys["graded_race_guide"][0]["race_name_main"] == "日刊スポーツ賞中山金杯"
    assert (ys["graded_race_guide"][0]["grade_code"], ys["graded_race_guide"][0]["distance"]) == ("C", 2000)
    hc = _sample("HC")
    assert (hc["training_date"], hc["training_time"], hc["total_time_4f"], hc["lap_time_200_0"]) == (
        "2023-08-25", "07:52", 81.1, 19.5)
    wc = _sample("WC")
    assert (wc["pedigree_reg_num"], wc["total_time_6f"], wc["lap_time_200_0"]) == ("2016101450", 119.9, 18.4)
    ck, ck_old = _sample("CK"), _sample("CK_V4802")
    assert (ck["horse_name"], ck["jockey_name"], ck["trainer_name"]) == ("クローズユアアイズ", "古川　吉洋", "昆　貢")
    assert (ck["owner_name_with_corp"], ck["breeder_code"], ck["breeder_name_with_corp"]) == (
        "株式会社　ＮＩＣＫＳ", "70004800", "大北牧場")
    assert ck["registered_race_count"] == 2 and ck["jockey_performance_stats"][0]["year"] == 2023
    assert (ck_old["horse_name"], ck_old["breeder_code"], ck_old["breeder_name_with_corp"]) == (
        "ミスヨコハマ", "373126", "ノーザンファーム")
