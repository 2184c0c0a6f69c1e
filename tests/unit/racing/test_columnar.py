"""The vectorised decoder beyond the per-layout round trips: mixed batches, column
selection, and the same errors as the per-record parser."""

from __future__ import annotations

import pyarrow as pa
import pytest

from kasoku.domains.racing.builder import build_entry, build_horse, build_quinella_odds, build_race, build_record
from kasoku.domains.racing.columnar import decode_table, decode_tables
from kasoku.domains.racing.layouts import LAYOUTS
from kasoku.domains.racing.records import RecordError, parse_record

RACE = "2024060105030111"


def test_a_mixed_batch_is_one_table_per_layout() -> None:
    raws = [build_race(RACE, "東京優駿", 2400), build_entry(RACE, 1, "ダノンデサイル"),
            build_entry(RACE, 2, "ジャスティンミラノ"),
            build_horse("2021105898", "ダノンデサイル", data_creation_date="2024-05-30"),
            build_record("UM", _layout="V4802", pedigree_reg_num="2013101246", data_creation_date="2023-08-07")]
    tables = decode_tables(raws)
    assert sorted(tables) == ["RA", "SE", "UM", "UM_V4802"]
    assert tables["SE"].column("horse_name").to_pylist() == ["ダノンデサイル", "ジャスティンミラノ"]
    assert tables["RA"].column("distance").to_pylist() == [2400]
    assert tables["UM_V4802"].schema.metadata[b"layout"] == b"V4802"


def test_types_are_arrow_types() -> None:
    table = decode_table([build_quinella_odds(RACE, {(1, 2): 12.3, (1, 3): 4.5})])
    assert table.schema.field("data_creation_date").type == pa.date32()
    assert table.schema.field("quinella_odds").type == pa.list_(pa.struct(
        [("combination", pa.string()), ("odds", pa.float64()), ("popularity_rank", pa.int64())]))
    assert table.column("quinella_odds").to_pylist()[0] == [
        {"combination": "0102", "odds": 12.3, "popularity_rank": 2},
        {"combination": "0103", "odds": 4.5, "popularity_rank": 1}]
    assert table.column("race_id").to_pylist() == [RACE]


def test_columns_decodes_only_those() -> None:
    table = decode_table([build_quinella_odds(RACE, {(1, 2): 12.3})], columns=["race_id", "num_starters"])
    assert table.column_names == ["num_starters", "race_id"]


def test_a_bad_record_raises_what_parse_record_raises() -> None:
    good = build_race(RACE, "テスト", 1600)
    broken = good[:697] + b"AB12" + good[701:]  # distance is not a number
    with pytest.raises(RecordError, match="RA.distance"):
        parse_record(broken)
    with pytest.raises(RecordError, match="RA.distance"):
        decode_table([good, broken])


def test_a_record_of_another_layout_is_refused() -> None:
    with pytest.raises(RecordError, match="does not belong"):
        decode_table([build_race(RACE), build_entry(RACE, 1, "アイ")], LAYOUTS["RA"])


@pytest.mark.parametrize("name", ["RA", "O6", "CK", "BT"])
def test_no_records_is_an_empty_table_of_the_same_columns(name: str) -> None:
    layout = LAYOUTS[name]
    empty = decode_table([], layout)
    one = decode_table([build_record(name, race_id=RACE) if name in ("RA", "O6", "CK") else build_record(name)],
                       layout)
    assert empty.num_rows == 0 and empty.schema == one.schema


def test_many_records_decode_in_chunks_to_the_same_values() -> None:
    """More records than one chunk of code fields (2,048) and of group slots (32,768): the same
    rows as decoding them a few at a time."""
    raws = [build_entry(RACE[:-2] + f"{n % 12 + 1:02d}", n % 18 + 1, f"ウマ{n}") for n in range(2100)]
    raws += [build_quinella_odds(RACE, {(1, 2): n / 10 + 1, (3, 4): 5.5}) for n in range(300)]
    whole = decode_tables(raws)
    assert whole["SE"].num_rows == 2100 and whole["O2"].num_rows == 300
    assert whole["SE"].to_pylist()[2048:2052] == decode_table(raws[2048:2052]).to_pylist()
    assert whole["O2"].to_pylist()[-3:] == decode_table(raws[-3:]).to_pylist()
