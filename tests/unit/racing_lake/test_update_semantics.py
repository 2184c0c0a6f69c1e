"""JV-Data's update semantics in the racing lake: the latest record per key wins, data_code 0 deletes,
a re-import changes nothing. Real DuckLake lakes in a temporary directory; records from the builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasoku.domains.racing.builder import build_entry, build_horse, build_race, build_win_odds
from kasoku.domains.racing.lake_import import import_files, import_records, incoming_tables
from kasoku.domains.racing.lake_tables import KEYS, LAYOUT_OF, TABLES, key_slices
from kasoku.errors import InputError
from kasoku.lake.ducklake import Lake

RACE = "2024060105030101"
OTHER = "2024060105030102"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def rows(lake: Lake, sql: str) -> list[tuple]:
    con = lake.connect(read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_layout_has_a_table_and_a_key() -> None:
    assert {"ra", "se", "hr", "o1", "o6", "wf", "um", "ks", "ch", "um_v4802", "ck_v4802"} <= set(TABLES)
    assert len(TABLES) == 38 + 7
    for name, layout in LAYOUT_OF.items():
        assert layout.record_type in KEYS, name
        key_slices(layout)  # every key field exists in the layout


def test_key_is_the_key_fields_bytes() -> None:
    t = incoming_tables([build_entry(RACE, 3, "テストホース", pedigree_reg_num="2021100003")])["se"]
    assert t["_key"].to_pylist() == [f"{RACE}|03|2021100003"]
    assert str(t["race_date"][0]) == "2024-06-01"


def test_a_later_record_replaces_the_earlier_one(lake: Lake) -> None:
    early = build_race(RACE, "速報", 1600, data_code="2", data_creation_date="2024-05-30")
    final = build_race(RACE, "確定", 1600, data_code="7", data_creation_date="2024-06-01")
    first = import_records(lake, [early])
    assert first.inserted == 1 and first.snapshot is not None
    second = import_records(lake, [final])
    assert (second.inserted, second.replaced) == (1, 1)
    assert rows(lake, "SELECT race_name_main, data_code FROM lake.ra") == [("確定", "7")]


def test_an_older_record_does_not_replace_a_newer_one(lake: Lake) -> None:
    final = build_race(RACE, "確定", 1600, data_code="7", data_creation_date="2024-06-01")
    early = build_race(RACE, "速報", 1600, data_code="2", data_creation_date="2024-05-30")
    import_records(lake, [final])
    late = import_records(lake, [early])
    assert late.inserted == 0 and late.unchanged == 1 and late.snapshot is None
    assert rows(lake, "SELECT race_name_main FROM lake.ra") == [("確定",)]


def test_within_one_import_the_later_record_of_a_day_wins(lake: Lake) -> None:
    a = build_win_odds(RACE, {1: 3.2, 2: 5.0}, data_code="1")
    b = build_win_odds(RACE, {1: 2.8, 2: 6.1}, data_code="5")
    done = import_records(lake, [a, b])
    assert done.inserted == 1
    assert rows(lake, "SELECT combination, odds FROM lake.odds WHERE bet_type = 'win' ORDER BY 1") == [
        ("01", 2.8), ("02", 6.1)]


def test_data_code_0_deletes_the_key(lake: Lake) -> None:
    import_records(lake, [build_entry(RACE, 1, "アオイソラ", pedigree_reg_num="2021100001"),
                          build_entry(RACE, 2, "ミドリノカゼ", pedigree_reg_num="2021100002"),
                          build_entry(OTHER, 2, "ミドリノカゼ", pedigree_reg_num="2021100002")])
    gone = import_records(lake, [build_entry(RACE, 2, "ミドリノカゼ", pedigree_reg_num="2021100002", data_code="0")])
    assert gone.deleted == 1 and gone.inserted == 0 and gone.snapshot is not None
    assert rows(lake, "SELECT race_id, horse_number FROM lake.se ORDER BY 1, 2") == [(RACE, 1), (OTHER, 2)]


def test_a_delete_of_an_unknown_key_changes_nothing(lake: Lake) -> None:
    import_records(lake, [build_horse("2021100001", "アオイソラ", data_creation_date="2024-05-30")])
    done = import_records(lake, [build_horse("2021100009", "ナイウマ", data_creation_date="2024-05-31", data_code="0")])
    assert done.snapshot is None and done.deleted == 0
    assert rows(lake, "SELECT horse_name FROM lake.um") == [("アオイソラ",)]


def test_a_reimport_changes_nothing(lake: Lake) -> None:
    records = [build_race(RACE, "確定", 1600), build_entry(RACE, 1, "アオイソラ"), build_win_odds(RACE, {1: 2.0})]
    first = import_records(lake, records)
    again = import_records(lake, records)
    assert first.inserted == 3
    assert again.snapshot is None and again.inserted == 0 and again.unchanged == 3


def test_bad_input_writes_nothing(lake: Lake, tmp_path: Path) -> None:
    good = tmp_path / "good.jvd"
    good.write_bytes(build_race(RACE, "確定", 1600))
    bad = tmp_path / "bad.jvd"
    bad.write_bytes(build_race(OTHER, "確定", 1600)[:-10] + b"\r\n")
    with pytest.raises(InputError) as err:
        import_files(lake, [good, bad])
    assert "bad.jvd" in str(err.value.details) or "bad.jvd" in err.value.message
    assert not (tmp_path / "lake").exists() or rows(
        lake, "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' AND table_name = 'ra'") == [(0,)]


def test_two_imports_at_once_both_land(lake: Lake) -> None:
    """Concurrent writers conflict on the lake's guard row; the later one reruns on the new snapshot."""
    import threading

    import_records(lake, [build_race(RACE, "確定", 1600)])  # tables exist: the race is on the rows
    errors: list[BaseException] = []

    def run(records: list[bytes]) -> None:
        try:
            import_records(lake, records)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=([build_entry(RACE, n, f"ウマ{n}", pedigree_reg_num=f"20211000{n:02d}")],))
               for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert rows(lake, "SELECT horse_number FROM lake.se ORDER BY 1") == [(1,), (2,)]


def _entry(horse_number: int, pedigree: str, name: str, created: str, data_code: str = "7") -> bytes:
    return build_entry(RACE, horse_number, name, pedigree_reg_num=pedigree, data_code=data_code,
                       data_creation_date=created)


def test_a_numbered_entry_replaces_the_horses_pre_draw_entry(lake: Lake) -> None:
    """SE before the draw has horse number 00; after it, the same horse's numbered record replaces that row."""
    first = import_records(lake, [_entry(0, "2021100001", "アオイソラ", "2024-05-26", "1"),
                                  _entry(0, "2021100002", "ミドリノカゼ", "2024-05-26", "1")])
    assert first.inserted == 2
    assert incoming_tables([_entry(0, "2021100001", "アオイソラ", "2024-05-26")])["se"]["_key"].to_pylist() == [
        f"{RACE}|00|2021100001"]
    drawn = import_records(lake, [_entry(5, "2021100001", "アオイソラ", "2024-05-30", "2")])
    assert (drawn.inserted, drawn.replaced) == (1, 1)
    assert rows(lake, "SELECT horse_number, pedigree_reg_num FROM lake.se ORDER BY 2") == [
        (5, "2021100001"), (0, "2021100002")]  # the other horse is not drawn yet: its 00 row stays
    final = import_records(lake, [_entry(5, "2021100001", "アオイソラ", "2024-06-01"),
                                  _entry(3, "2021100002", "ミドリノカゼ", "2024-06-01")])
    assert (final.inserted, final.replaced) == (2, 2)
    assert rows(lake, "SELECT horse_number, pedigree_reg_num, data_code FROM lake.se ORDER BY 2") == [
        (5, "2021100001", "7"), (3, "2021100002", "7")]
    assert rows(lake, "SELECT count(*) FROM lake.entries") == [(2,)]


def test_a_pre_draw_entry_after_the_draw_is_stale(lake: Lake) -> None:
    import_records(lake, [_entry(5, "2021100001", "アオイソラ", "2024-05-30", "2")])
    late = import_records(lake, [_entry(0, "2021100001", "アオイソラ", "2024-05-26", "1")])
    assert late.inserted == 0 and late.unchanged == 1 and late.snapshot is None
    both = import_records(lake, [_entry(0, "2021100002", "ミドリノカゼ", "2024-05-26", "1"),
                                 _entry(3, "2021100002", "ミドリノカゼ", "2024-05-30", "2")])
    assert (both.inserted, both.unchanged) == (1, 1)  # in one import too: the numbered one is kept
    assert rows(lake, "SELECT horse_number, pedigree_reg_num FROM lake.se ORDER BY 2") == [
        (5, "2021100001"), (3, "2021100002")]


def test_the_pre_draw_rule_stays_within_its_race(lake: Lake) -> None:
    other = build_entry(OTHER, 0, "アオイソラ", pedigree_reg_num="2021100001", data_code="1",
                        data_creation_date="2024-05-26")
    import_records(lake, [other, _entry(0, "2021100001", "アオイソラ", "2024-05-26", "1")])
    import_records(lake, [_entry(4, "2021100001", "アオイソラ", "2024-05-30", "2")])
    assert rows(lake, "SELECT race_id, horse_number FROM lake.se ORDER BY 1") == [(RACE, 4), (OTHER, 0)]
