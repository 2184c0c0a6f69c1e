"""The parser against the real records in shared/reference/jvdata-samples and the
tables against the layout document itself (positions must be copied verbatim)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kasoku.domains.racing.builder import build_record
from kasoku.domains.racing.layouts import LAYOUTS, Field, Group
from kasoku.domains.racing.records import creation_date_of, parse_record, race_key_of, record_type_of
from tests.jvdata_samples import missing_message, samples_dir

SAMPLES_DIR = samples_dir()
SAMPLES = sorted(SAMPLES_DIR.glob("*.jvd")) or [SAMPLES_DIR]  # the bare dir makes each test fail, not skip
LAYOUT_DOC = SAMPLES_DIR.parent / "jvdata-layouts.md"


def _read(path: Path) -> bytes:
    if not path.is_file():
        pytest.fail(missing_message(path))
    return path.read_bytes()


def _sample(name: str) -> dict[str, Any]:
    return parse_record(_read(SAMPLES_DIR / f"{name}.jvd")).data


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_parses_and_helpers_agree(path: Path) -> None:
    raw = _read(path)
    record = parse_record(raw, keep_raw=True)
    assert record.record_type == path.stem[:2] == record_type_of(raw)
    assert record.raw == raw
    assert record.data["data_creation_date"] == creation_date_of(raw)
    assert record.data.get("race_id") == race_key_of(raw)
    assert parse_record(raw[:-2]).data == record.data  # CR LF is optional
    expected_layout = ("header-only" if record.record_type not in LAYOUTS
                       else "V4802" if path.stem.endswith("_V4802") else None)
    assert record.data.get("_layout") == expected_layout


@pytest.mark.parametrize("path", [p for p in SAMPLES if p.stem in LAYOUTS] or [SAMPLES_DIR], ids=lambda p: p.stem)
def test_builder_rewrites_every_current_sample(path: Path) -> None:
    """parse -> build -> parse is the identity on real data: the builder inverts every field."""
    data = parse_record(_read(path)).data
    rebuilt = build_record(data["record_type"], **data)
    assert len(rebuilt) == LAYOUTS[path.stem].length
    assert parse_record(rebuilt).data == data


def test_se_sample_values() -> None:
    se = _sample("SE")
    assert se["race_id"] == "2023090201020701"
    assert (se["data_code"], se["data_creation_date"]) == ("2", "2023-09-01")
    assert (se["racecourse_code"], se["race_number"], se["horse_number"]) == ("01", "01", 1)
    assert se["horse_name"] == "メジャーデビュー"
    assert se["pedigree_reg_num"] == "2021100446"
    assert se["owner_name_individual"] == "石川　秀守"
    assert se["carrying_weight"] == 54.0
    assert se["horse_weight"] is None  # all spaces before the weigh-in


def test_ks_sample_keeps_the_inner_full_width_space() -> None:
    ks = _sample("KS")
    assert ks["jockey_code"] == "00422"
    assert ks["jockey_name"] == "内田　博幸"
    assert ks["jockey_name_short"] == "内田博幸"
    assert ks["birth_date"] == "1970-07-26"
    assert ks["license_revoked_date"] is None
    assert ks["performance_stats"][0]["year"] == 2023


def test_um_samples_current_and_v4802() -> None:
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


def test_race_odds_weights_payout_schedule_samples() -> None:
    ra = _sample("RA")
    assert (ra["distance"], ra["post_time"], ra["track_code"]) == (1200, "09:50", "17")
    assert ra["purse_money"] == [55000, 22000, 14000, 8300, 5500, 0, 0]
    o1 = _sample("O1")
    assert len(o1["win_odds"]) == o1["num_starters"] == 11
    assert o1["win_odds"][0] == {"horse_number": 1, "odds": 78.9, "popularity_rank": 7}
    assert o1["place_odds"][0] == {"horse_number": 1, "min_odds": 3.2, "max_odds": 23.3, "popularity_rank": 6}
    o2 = _sample("O2")
    assert len(o2["quinella_odds"]) == 55  # 11 horses -> C(11, 2) pairs
    assert o2["quinella_odds"][0] == {"combination": "0102", "odds": 457.9, "popularity_rank": 34}
    wh = _sample("WH")
    assert len(wh["horse_weight_infos"]) == 11
    assert wh["horse_weight_infos"][0] == {"horse_number": 1, "horse_name": "メイオウ", "horse_weight": 402,
                                           "weight_change_sign": "-", "weight_change_diff": 10}
    hr = _sample("HR")
    assert hr["win_payback"] == [{"number": "06", "payout": 560, "popularity_rank": 2}]
    assert hr["trifecta_payback"] == [{"number": "060403", "payout": 12980, "popularity_rank": 38}]
    ys = _sample("YS")
    assert ys["graded_race_guide"][0]["race_name_main"] == "日刊スポーツ賞中山金杯"
    assert (ys["graded_race_guide"][0]["grade_code"], ys["graded_race_guide"][0]["distance"]) == ("C", 2000)
    assert _sample("CH")["trainer_name"] == "国枝　栄"


_SECTION = re.compile(r"^## (\w\w) — .* record_length (\d+) bytes", re.M)
_ROW = re.compile(r"^\| \d+ \| (\d+) \| (\d+) \| (\w+) \|[^|]*\|(.*)\|$", re.M)
_ARRAY = re.compile(r"array (\d+) x (\d+)B")
_SUB = re.compile(r"\+(\d+)/(\d+) (\w+)")


def _doc_sections() -> dict[str, tuple[int, str]]:
    if not LAYOUT_DOC.is_file():
        pytest.fail(missing_message(LAYOUT_DOC))
    text = LAYOUT_DOC.read_text(encoding="utf-8").split("\n# Appendix")[0]
    parts = _SECTION.split(text)
    return {parts[i]: (int(parts[i + 1]), parts[i + 2]) for i in range(1, len(parts), 3)}


def test_tables_match_the_layout_document() -> None:
    sections = _doc_sections()
    assert set(sections) == set(LAYOUTS)
    for rtype, (length, body) in sections.items():
        layout = LAYOUTS[rtype]
        assert layout.length == length, rtype
        items = {item.name: item for item in layout.items}
        rows = _ROW.findall(body)
        assert len(rows) >= 2, f"{rtype}: table rows not recognised"
        for pos, size, name, notes in rows:
            if name.startswith("reserved"):
                continue
            item = items[name]
            assert (item.pos, item.size) == (int(pos), int(size)), f"{rtype}.{name}"
            array = _ARRAY.search(notes)
            if array is None:
                assert isinstance(item, Field) and item.count == 1, f"{rtype}.{name}"
            elif isinstance(item, Group):
                assert (item.count, item.width) == tuple(map(int, array.groups())), f"{rtype}.{name}"
                subs = [(f.pos - 1, f.size, f.name) for f in item.fields]
                assert subs == [(int(o), int(n), s) for o, n, s in _SUB.findall(notes)], f"{rtype}.{name}"
            else:
                assert (item.count, item.length) == tuple(map(int, array.groups())), f"{rtype}.{name}"
