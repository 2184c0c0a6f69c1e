"""Reading JV-Data files for an import: every record validated first, and where JV-Link delivers it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasoku.domains.racing.jvdata_files import read_checked, split_records
from kasoku.errors import InputError
from tests.unit.racing_clients._jvdata import make_record, write_jvd


def test_dataspec_is_inferred_stored_by_creation_date_realtime_by_race_day(tmp_path: Path) -> None:
    ra = make_record("RA", created="20240104")
    se = make_record("SE", created="20240105", body="101")
    um = make_record("UM", created="20240105", key="2019105123")
    wh = make_record("WH", created="20240107", key="2024010606010101")
    records, targets = read_checked([write_jvd(tmp_path / "in.jvd", [ra, se, um, wh])])
    assert records == [ra, se, um, wh]
    assert targets == [("stored", "RACE", "20240104"), ("stored", "RACE", "20240105"),
                       ("stored", "DIFF", "20240105"), ("realtime", "0B11", "20240106")]


def test_given_dataspecs(tmp_path: Path) -> None:
    ra = make_record("RA", created="20240105", key="2024010606010101")
    se = make_record("SE", created="20240106", key="2024010706010201")
    _, targets = read_checked([write_jvd(tmp_path / "rt.jvd", [ra, se])], "0B15")
    assert targets == [("realtime", "0B15", "20240106"), ("realtime", "0B15", "20240107")]
    _, targets = read_checked([write_jvd(tmp_path / "d.jvd", [make_record("UM", key="2019105123")])], "DIFN")
    assert targets == [("stored", "DIFN", "20240106")]


@pytest.mark.parametrize(("bad", "message"), [
    (make_record("RA")[:-10] + b"\r\n", "bytes"),                       # wrong length
    (b"ZZ" + make_record("RA")[2:], "unknown record type"),
    (make_record("RA", created="20241340"), "creation date"),
    (make_record("RA")[:-2], "truncated"),                             # no CRLF at the end
    (make_record("RA")[:40] + b"\x81\x20" + make_record("RA")[42:], "cp932"),
])
def test_a_bad_record_names_its_file_and_number(tmp_path: Path, bad: bytes, message: str) -> None:
    good = write_jvd(tmp_path / "good.jvd", [make_record("SE", body="102")])
    broken = write_jvd(tmp_path / "broken.jvd", [make_record("SE", body="103"), bad])
    with pytest.raises(InputError) as e:
        read_checked([good, broken])
    assert e.value.path == str(broken) and e.value.record == 2
    assert message in e.value.message


def test_record_type_the_dataspec_never_delivers(tmp_path: Path) -> None:
    src = write_jvd(tmp_path / "x.jvd", [make_record("RA"), make_record("UM")])
    with pytest.raises(InputError) as e:
        read_checked([src], "0B15")
    assert e.value.record == 2 and "never delivers UM" in e.value.message


def test_unknown_dataspec_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_checked([write_jvd(tmp_path / "x.jvd", [make_record("RA")])], "NOPE")
    with pytest.raises(InputError):
        read_checked([tmp_path / "missing.jvd"])


def test_progress_is_reported_per_file(tmp_path: Path) -> None:
    a = write_jvd(tmp_path / "a.jvd", [make_record("RA")])
    b = write_jvd(tmp_path / "b.jvd", [make_record("SE")])
    seen: list[tuple[int, int, Path]] = []
    read_checked([a, b], progress=lambda d, t, p: seen.append((d, t, p)))
    assert seen == [(1, 2, a), (2, 2, b)]


def test_an_empty_file_has_no_records(tmp_path: Path) -> None:
    assert read_checked([write_jvd(tmp_path / "e.jvd", [])]) == ([], [])
    assert split_records(b"") == []


def test_a_record_whose_fields_do_not_parse_is_refused(tmp_path: Path) -> None:
    """Header checks alone would let it in, and every later read of it would fail."""
    from kasoku.domains.racing.builder import build_race

    good = build_race("2024060105030101", "テスト", 1600)
    broken = good[:697] + b"AB12" + good[701:]  # distance (pos 698, 4 bytes) is not a number
    with pytest.raises(InputError, match="RA.distance"):
        read_checked([write_jvd(tmp_path / "bad.jvd", [broken])])
