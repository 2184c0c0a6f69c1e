"""Parser edge cases: lengths, garbage, special values, padding, helpers, splitting."""

from __future__ import annotations

import pytest

from kasoku.domains.racing.builder import (
    build_entry,
    build_horse,
    build_jockey,
    build_payout,
    build_quinella_odds,
    build_race,
    build_record,
    build_schedule,
    build_trainer,
    build_weights,
    build_win_odds,
)
from kasoku.domains.racing.layouts import LAYOUTS
from kasoku.domains.racing.records import (
    RecordError,
    creation_date_of,
    iter_records,
    parse_record,
    race_key_of,
    record_type_of,
)
from kasoku.errors import InputError

RACE = "2023090201020711"


def _patch(raw: bytes, pos: int, value: bytes) -> bytes:
    return raw[:pos - 1] + value + raw[pos - 1 + len(value):]


def test_truncated_record_names_type_and_lengths() -> None:
    raw = build_race(RACE, "札幌記念", 2000)[:1000]
    with pytest.raises(RecordError) as err:
        parse_record(raw)
    assert isinstance(err.value, InputError) and err.value.status == 400
    assert "RA" in str(err.value) and "1272" in str(err.value) and "1000" in str(err.value)
    assert err.value.details == {"record_type": "RA", "expected_length": 1272, "actual_length": 1000}


@pytest.mark.parametrize("extra", [b"X", b"XXX", b"\r\n"])
def test_longer_record_of_known_type_is_rejected(extra: bytes) -> None:
    raw = build_entry(RACE, 1, "アイ") + extra
    with pytest.raises(RecordError, match=rf"SE record is {len(raw)} bytes.*555"):
        parse_record(raw)


def test_full_length_without_crlf_at_the_end_is_rejected() -> None:
    raw = build_entry(RACE, 1, "アイ")[:-2] + b"  "
    with pytest.raises(RecordError, match="SE record is 555 bytes"):
        parse_record(raw)


@pytest.mark.parametrize("raw", [b"\x00\xff20230901", b"ra1202309011234", b"\x83\x41", b"R"])
def test_garbage_type_is_rejected(raw: bytes) -> None:
    with pytest.raises(RecordError, match=rf"record type .* \(record is {len(raw)} bytes\)"):
        parse_record(raw)


def test_unknown_type_gets_the_header_only() -> None:
    record = parse_record(b"ZZ720230901whatever follows\r\n")
    assert record.record_type == "ZZ"
    assert record.data == {"record_type": "ZZ", "data_code": "7", "data_creation_date": "2023-09-01",
                           "_layout": "header-only"}
    with pytest.raises(RecordError, match="ZZ record is 5 bytes, shorter than the 11-byte header"):
        parse_record(b"ZZ720")


def test_every_documented_type_is_known_so_a_short_one_is_refused() -> None:
    """O3 used to be header-only; now that every type has a table, a cut record is an error."""
    with pytest.raises(RecordError, match=r"O3 record is 79 bytes.*2654"):
        parse_record(b"O35" + b"20230828" + RACE.encode() + b"0" * 50 + b"\r\n")


def test_um_lengths_other_than_current_and_v4802_fail() -> None:
    """1577 bytes selects the V4802 table (checked on the real sample); anything else is an error."""
    raw = build_horse("2013101246", "スケールアップ", data_creation_date="2023-08-07")
    with pytest.raises(RecordError, match=r"UM record is 1600 bytes.*1609 incl. CR LF \(known: 1609, 1577 \(V4802\)\)"):
        parse_record(raw[:1598] + b"\r\n")
    with pytest.raises(RecordError, match=r"UM\.affiliation_code"):  # a mis-cut record fails, never mis-slices
        parse_record(raw[:1575] + b"\r\n")


@pytest.mark.parametrize("field", [b"----", b"****", b"    ", b"0000"])
def test_special_odds_values_are_none(field: bytes) -> None:
    raw = build_win_odds(RACE, {1: 3.2, 2: 5.0})
    pos = LAYOUTS["O1"].items[[i.name for i in LAYOUTS["O1"].items].index("win_odds")].pos + 2
    data = parse_record(_patch(raw, pos, field)).data
    assert data["win_odds"][0]["odds"] is None and data["win_odds"][1]["odds"] == 5.0


def test_non_numeric_number_is_an_error_naming_the_field() -> None:
    raw = _patch(build_race(RACE, "x", 1200), 698, b"12a0")
    with pytest.raises(RecordError, match=r"RA\.distance: '12a0' is not a number"):
        parse_record(raw)


def test_bad_date_and_broken_multibyte_text_are_errors() -> None:
    with pytest.raises(RecordError, match=r"data_creation_date: '20231399'"):
        parse_record(_patch(build_race(RACE), 4, b"20231399"))
    broken = _patch(build_entry(RACE, 1, "アイ"), 41, b"\x83")  # a lead byte with no trail byte
    with pytest.raises(RecordError, match=r"SE\.horse_name"):
        parse_record(_patch(broken, 42, b" "))


def test_text_is_trimmed_at_the_ends_only() -> None:
    value = "\u3000内田\u3000博幸 ".encode("cp932")
    raw = _patch(build_jockey("00422", "", data_creation_date="2023-08-28"), 42, value.ljust(34))
    assert parse_record(raw).data["jockey_name"] == "内田\u3000博幸"


def test_helpers_slice_the_header_only() -> None:
    raw = build_race(RACE, "札幌記念", 2000)
    assert (record_type_of(raw), race_key_of(raw), creation_date_of(raw)) == ("RA", RACE, "2023-09-02")
    horse = build_horse("2012101547", "シゲルシチフクジン", data_creation_date="2023-08-28")
    assert (race_key_of(horse), creation_date_of(horse)) == (None, "2023-08-28")
    assert creation_date_of(b"BR220230828") == "2023-08-28"
    with pytest.raises(RecordError, match="no data_creation_date"):
        creation_date_of(build_record("UM"))


def test_keep_raw() -> None:
    raw = build_trainer("00399", "国枝　栄", data_creation_date="2023-08-28")
    assert parse_record(raw).raw is None
    assert parse_record(raw, keep_raw=True).raw == raw


def test_iter_records_splits_on_crlf_and_keeps_it() -> None:
    records = [build_race(RACE, "札幌記念", 2000), build_entry(RACE, 1, "ソ十表"),  # 0x5C trail bytes
               build_payout(RACE, win={1: 560}), build_schedule("20230902010207")]
    blob = b"".join(records)
    assert list(iter_records(blob)) == records
    assert list(iter_records(blob + b"ZZ120230901")) == [*records, b"ZZ120230901"]
    assert list(iter_records(b"")) == []
    assert [parse_record(r).record_type for r in iter_records(blob)] == ["RA", "SE", "HR", "YS"]


def test_convenience_builders_make_what_the_demo_needs() -> None:
    o1 = parse_record(build_win_odds(RACE, {1: 3.2, 2: 1.5, 3: None})).data
    assert [(r["horse_number"], r["odds"], r["popularity_rank"]) for r in o1["win_odds"]] == [
        (1, 3.2, 2), (2, 1.5, 1), (3, None, 0)]
    o2 = parse_record(build_quinella_odds(RACE, {(2, 1): 4.5, (1, 3): 12.0})).data
    assert [(r["combination"], r["odds"]) for r in o2["quinella_odds"]] == [("0102", 4.5), ("0103", 12.0)]
    wh = parse_record(build_weights(RACE, {1: 480, 2: 452}, changes={1: -4}, names={1: "アイ"})).data
    assert wh["horse_weight_infos"][0] == {"horse_number": 1, "horse_name": "アイ", "horse_weight": 480,
                                           "weight_change_sign": "-", "weight_change_diff": 4}
    hr = parse_record(build_payout(RACE, win={6: 560}, bracket_quinella={(4, 6): 150},
                                   trifecta={(6, 4, 3): 12980})).data
    assert hr["win_payback"][0]["number"] == "06" and hr["bracket_quinella_payback"][0]["number"] == "46"
    assert hr["trifecta_payback"][0] == {"number": "060403", "payout": 12980, "popularity_rank": 0}
    se = parse_record(build_entry(RACE, 3, "メジャーデビュー", jockey_code="00422", jockey_name="内田博幸",
                                  carrying_weight=57.5, finish_time=83.4, win_odds=3.2)).data
    assert (se["horse_number"], se["jockey_short_name"]) == (3, "内田博幸")
    assert (se["finish_time"], se["win_odds"], se["carrying_weight"]) == (83.4, 3.2, 57.5)
    ra = parse_record(build_race(RACE, "札幌記念", 2000, post_time="15:45", grade_code="B")).data
    assert (ra["race_name_main"], ra["distance"], ra["post_time"]) == ("札幌記念", 2000, "15:45")
    assert (ra["grade_code"], ra["data_code"], ra["race_id"]) == ("B", "7", RACE)


def test_builder_rejects_what_would_not_round_trip() -> None:
    with pytest.raises(RecordError, match="no field"):
        build_record("RA", distanse=1200)
    with pytest.raises(RecordError, match=r"RA\.distance: 12345 does not fit in 4 bytes"):
        build_record("RA", distance=12345)
    with pytest.raises(RecordError, match=r"SE\.jockey_short_name: 10 bytes"):
        build_entry(RACE, 1, "x", jockey_name="内田博幸様")
    with pytest.raises(RecordError, match="not 16 digits"):
        build_race("2023-09-02", "x")
    with pytest.raises(RecordError, match="no layout"):
        build_record("ZZ")
    with pytest.raises(RecordError, match="room for 28"):
        build_win_odds(RACE, {n: 2.0 for n in range(1, 30)})
