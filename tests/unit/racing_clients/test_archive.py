from __future__ import annotations

import json
from pathlib import Path

import pytest

from kasoku.domains.racing.archive import import_files, split_records
from kasoku.errors import InputError

from ._jvdata import make_record, write_jvd



def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dataspec_is_inferred_and_files_are_cut_by_creation_date(tmp_path: Path) -> None:
    ra = make_record("RA", created="20240104")
    se = make_record("SE", created="20240105", body="101")
    um = make_record("UM", created="20240105", key="2019105123")
    wh = make_record("WH", created="20240107", key="2024010606010101")
    src = write_jvd(tmp_path / "in.jvd", [ra, se, um, wh])
    arc = tmp_path / "arc"
    summary = import_files([src], arc)
    assert summary.records == 4 and summary.files == 1 and summary.duplicates == 0
    assert summary.by_dataspec == {"RACE": 2, "DIFF": 1, "0B11": 1}
    assert summary.by_record_type == {"RA": 1, "SE": 1, "UM": 1, "WH": 1}
    assert (arc / "stored/RACE/20240104.jvd").read_bytes() == ra
    assert (arc / "stored/RACE/20240105.jvd").read_bytes() == se
    assert (arc / "stored/DIFF/20240105.jvd").read_bytes() == um
    assert (arc / "realtime/0B11/20240106.jvd").read_bytes() == wh  # race day, not creation date
    manifest = json.loads((arc / "manifest.json").read_text())
    assert manifest["generation"] == 1
    assert manifest["dataspecs"]["RACE"] == {"kind": "stored", "files": 2, "records": 2}


def test_reimport_dedupes_and_leaves_files_identical(tmp_path: Path) -> None:
    recs = [make_record("SE", body=f"1{n:02d}") for n in range(1, 4)]
    src = write_jvd(tmp_path / "in.jvd", recs)
    arc = tmp_path / "arc"
    import_files([src], arc)
    before = snapshot(arc)
    again = import_files([src, src], arc)
    assert again.records == 0 and again.duplicates == 6
    assert snapshot(arc) == before
    extra = write_jvd(tmp_path / "more.jvd", [recs[0], make_record("SE", body="104")])
    summary = import_files([extra], arc)
    assert (summary.records, summary.duplicates) == (1, 1)
    assert split_records((arc / "stored/RACE/20240106.jvd").read_bytes())[:3] == recs  # grows at the end


def test_duplicates_within_one_batch(tmp_path: Path) -> None:
    rec = make_record("RA")
    summary = import_files([write_jvd(tmp_path / "a.jvd", [rec, rec])], tmp_path / "arc")
    assert (summary.records, summary.duplicates) == (1, 1)


@pytest.mark.parametrize(("bad", "message"), [
    (make_record("RA")[:-10] + b"\r\n", "bytes"),                       # wrong length
    (b"ZZ" + make_record("RA")[2:], "unknown record type"),
    (make_record("RA", created="20241340"), "creation date"),
    (make_record("RA")[:-2], "truncated"),                             # no CRLF at the end
    (make_record("RA")[:40] + b"\x81\x20" + make_record("RA")[42:], "cp932"),
])
def test_bad_record_rejects_whole_import(tmp_path: Path, bad: bytes, message: str) -> None:
    arc = tmp_path / "arc"
    import_files([write_jvd(tmp_path / "ok.jvd", [make_record("RA", created="20240101")])], arc)
    before = snapshot(arc)
    good = write_jvd(tmp_path / "good.jvd", [make_record("SE", body="102")])
    broken = write_jvd(tmp_path / "broken.jvd", [make_record("SE", body="103"), bad])
    with pytest.raises(InputError) as e:
        import_files([good, broken], arc)
    assert e.value.path == str(broken)
    assert e.value.record == 2
    assert message in e.value.message
    assert snapshot(arc) == before


def test_given_realtime_dataspec_files_by_race_day(tmp_path: Path) -> None:
    ra = make_record("RA", created="20240105", key="2024010606010101")
    se = make_record("SE", created="20240106", key="2024010706010201")
    arc = tmp_path / "arc"
    summary = import_files([write_jvd(tmp_path / "rt.jvd", [ra, se])], arc, dataspec="0B15")
    assert summary.by_dataspec == {"0B15": 2}
    assert (arc / "realtime/0B15/20240106.jvd").read_bytes() == ra
    assert (arc / "realtime/0B15/20240107.jvd").read_bytes() == se
    o1 = make_record("O1", key="2024010606010101")
    import_files([write_jvd(tmp_path / "o.jvd", [o1])], arc, dataspec="0B31")
    assert (arc / "realtime/0B31/20240106.jvd").read_bytes() == o1


def test_given_stored_dataspec(tmp_path: Path) -> None:
    um = make_record("UM", key="2019105123")
    arc = tmp_path / "arc"
    import_files([write_jvd(tmp_path / "d.jvd", [um])], arc, dataspec="DIFN")
    assert (arc / "stored/DIFN/20240106.jvd").read_bytes() == um


def test_record_type_the_dataspec_never_delivers(tmp_path: Path) -> None:
    arc = tmp_path / "arc"
    src = write_jvd(tmp_path / "x.jvd", [make_record("RA"), make_record("UM")])
    with pytest.raises(InputError) as e:
        import_files([src], arc, dataspec="0B15")
    assert e.value.record == 2 and "never delivers UM" in e.value.message
    assert not (arc / "manifest.json").exists()


def test_unknown_dataspec_and_uninferable_type(tmp_path: Path) -> None:
    src = write_jvd(tmp_path / "x.jvd", [make_record("RA")])
    with pytest.raises(InputError):
        import_files([src], tmp_path / "arc", dataspec="NOPE")
    with pytest.raises(InputError):
        import_files([tmp_path / "missing.jvd"], tmp_path / "arc")


def test_progress_is_reported_per_file(tmp_path: Path) -> None:
    a = write_jvd(tmp_path / "a.jvd", [make_record("RA")])
    b = write_jvd(tmp_path / "b.jvd", [make_record("SE")])
    seen: list[tuple[int, int, Path]] = []
    import_files([a, b], tmp_path / "arc", progress=lambda d, t, p: seen.append((d, t, p)))
    assert seen == [(1, 2, a), (2, 2, b)]


def test_empty_file_imports_nothing(tmp_path: Path) -> None:
    summary = import_files([write_jvd(tmp_path / "e.jvd", [])], tmp_path / "arc")
    assert summary.records == 0


def test_a_record_whose_fields_do_not_parse_is_refused(tmp_path: Path) -> None:
    """Header checks alone would archive it, and every later RACE read would fail on it."""
    from kasoku.domains.racing.builder import build_race

    good = build_race("2024060105030101", "テスト", 1600)
    broken = good[:697] + b"AB12" + good[701:]  # distance (pos 698, 4 bytes) is not a number
    arc = tmp_path / "arc"
    with pytest.raises(InputError, match="RA.distance"):
        import_files([write_jvd(tmp_path / "bad.jvd", [broken])], arc)
    assert not (arc / "stored").exists()
