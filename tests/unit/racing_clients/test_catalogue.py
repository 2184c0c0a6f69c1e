from __future__ import annotations

import pytest

from kasoku.domains.racing import catalogue
from kasoku.domains.racing.catalogue import (
    get_dataspec, stored_dataspec_for_record_type, validate_fromtime, validate_option, validate_realtime_key,
)
from kasoku.errors import InvalidParameter


def code_of(excinfo: pytest.ExceptionInfo[InvalidParameter]) -> int:
    return int(excinfo.value.details["jvlink_code"])


def test_every_documented_dataspec_is_catalogued() -> None:
    stored = {"RACE", "DIFF", "DIFN", "BLOD", "BLDN", "SNAP", "SNPN", "SLOP", "WOOD", "YSCH", "TOKU",
              "HOSE", "HOSN", "HOYU", "COMM", "MING", "TCOV", "TCVN", "RCOV", "RCVN"}
    realtime = {"0B11", "0B12", "0B13", "0B14", "0B15", "0B16", "0B17", "0B20", "0B30", "0B31", "0B32",
                "0B33", "0B34", "0B35", "0B36", "0B41", "0B42", "0B51"}
    assert {n for n, s in catalogue.DATASPECS.items() if s.kind == "stored"} == stored
    assert {n for n, s in catalogue.DATASPECS.items() if s.kind == "realtime"} == realtime


def test_every_record_type_has_a_known_length() -> None:
    for spec in catalogue.DATASPECS.values():
        for rt in spec.record_types:
            assert rt in catalogue.RECORD_LENGTHS, (spec.name, rt)


def test_feeds_deliver_what_jvlink_md_says() -> None:
    assert get_dataspec("0B12").record_types == ("RA", "SE", "HR")
    assert get_dataspec("0B15").record_types == ("RA", "SE", "HR")
    assert get_dataspec("0B30").record_types == ("O1", "O2", "O3", "O4", "O5", "O6")
    assert get_dataspec("0B31").record_types == ("O1",)
    assert get_dataspec("HOSE").record_types == ("HS",)
    assert get_dataspec("HOYU").record_types == ("HY",)


@pytest.mark.parametrize(("name", "l1", "l2"), [
    ("RACE", 300, 86400), ("HOSE", 300, 86400), ("HOYU", 300, 86400), ("YSCH", 300, 604800),
    ("0B12", 60, 60), ("0B15", 60, 60), ("0B30", 300, 300), ("DIFF", 300, 300),
    ("SLOP", 300, 1800), ("MING", 300, 3600), ("BLOD", 300, 600), ("0B31", 300, 600),
])
def test_ttls_follow_the_seed(name: str, l1: float, l2: float) -> None:
    spec = get_dataspec(name)
    assert (spec.ttl_l1, spec.ttl_l2) == (l1, l2)


def test_unknown_dataspec_is_111_and_lists_valid_names() -> None:
    with pytest.raises(InvalidParameter) as e:
        get_dataspec("RACX")
    assert code_of(e) == -111
    assert e.value.status == 400
    assert "RACE" in e.value.message and "0B31" in e.value.message


def test_fromtime_single_and_range() -> None:
    race = get_dataspec("RACE")
    assert validate_fromtime(race, "20240105000000") == ("20240105000000", None)
    assert validate_fromtime(race, "20240105000000-20240107235959") == ("20240105000000", "20240107235959")


@pytest.mark.parametrize(("spec", "fromtime", "code"), [
    ("RACE", "2024010500000", -112),           # too short
    ("RACE", "20241305000000", -112),          # month 13
    ("RACE", "", -112),
    ("RACE", "20240105000000-2024", -113),
    ("RACE", "20240105000000-20240104000000", -113),  # end before start
    ("DIFF", "20240105000000-20240107000000", -113),  # no range for DIFF
    ("TOKU", "20240105000000-20240107000000", -113),
    ("HOSE", "20240105000000-20240107000000", -113),
    ("HOYU", "20240105000000-20240107000000", -113),
    ("COMM", "20240105000000-20240107000000", -113),
    ("DIFN", "20240105000000-20240107000000", -113),
    ("0B15", "20240105000000", -111),           # realtime spec with a fromtime
])
def test_fromtime_errors(spec: str, fromtime: str, code: int) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_fromtime(get_dataspec(spec), fromtime)
    assert code_of(e) == code


def test_options() -> None:
    assert validate_option(get_dataspec("RACE"), 2) == 2
    for opt in (1, 3, 4):
        assert validate_option(get_dataspec("DIFF"), opt) == opt
    with pytest.raises(InvalidParameter) as e:
        validate_option(get_dataspec("RACE"), 5)
    assert code_of(e) == -115
    with pytest.raises(InvalidParameter) as e:
        validate_option(get_dataspec("DIFF"), 2)
    assert code_of(e) == -116
    with pytest.raises(InvalidParameter) as e:
        validate_option(get_dataspec("RCOV"), 1)
    assert code_of(e) == -116


@pytest.mark.parametrize(("spec", "key", "kind"), [
    ("0B15", "20240106", "date"), ("0B15", "2024010606010101", "race"),
    ("0B31", "2024010606010101", "race"), ("0B51", "20240107", "date"),
])
def test_realtime_keys(spec: str, key: str, kind: str) -> None:
    assert validate_realtime_key(get_dataspec(spec), key) == kind


@pytest.mark.parametrize(("spec", "key"), [
    ("0B15", "2024010"), ("0B15", "20241306"), ("0B15", "202401060601010X"), ("0B15", "202401060601"),
    ("0B31", "20240106"),           # odds need a race key
    ("0B51", "2024010606010101"),   # WIN5 is by day
])
def test_bad_realtime_keys_are_114(spec: str, key: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        validate_realtime_key(get_dataspec(spec), key)
    assert code_of(e) == -114


def test_record_type_homes() -> None:
    assert stored_dataspec_for_record_type("RA") == "RACE"
    assert stored_dataspec_for_record_type("O6") == "RACE"
    assert stored_dataspec_for_record_type("UM") == "DIFF"
    assert stored_dataspec_for_record_type("KS") == "DIFF"
    assert stored_dataspec_for_record_type("HN") == "BLOD"
    assert stored_dataspec_for_record_type("YS") == "YSCH"
    assert stored_dataspec_for_record_type("HS") == "HOSE"
    assert stored_dataspec_for_record_type("DM") == "MING"
    with pytest.raises(InvalidParameter):
        stored_dataspec_for_record_type("WH")
    assert catalogue.default_dataspec_for_record_type("WH") == "0B11"
    assert catalogue.default_dataspec_for_record_type("WE") == "0B14"
    assert catalogue.default_dataspec_for_record_type("ZZ") is None
