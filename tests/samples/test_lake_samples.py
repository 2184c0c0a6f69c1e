"""Conformance of the racing lake: every real record imports into its table, and the lake gives back
exactly what the decoder made of it (every column, nested groups included)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from kasoku.domains.racing.columnar import decode_table
from kasoku.domains.racing.lake_import import import_files, read_files
from kasoku.domains.racing.lake_tables import table_name
from kasoku.domains.racing.layouts import layout_for_length
from kasoku.lake.ducklake import Lake
from tests.samples.paths import sample_files


def test_real_samples_round_trip_through_the_lake(tmp_path: Path) -> None:
    paths = sample_files()
    lake = Lake(str(tmp_path / "lake"))
    summary = import_files(lake, paths)
    assert summary.records == len(paths) and summary.snapshot is not None
    assert summary.raw_added == len(paths)  # each one also kept as delivered, for the replay
    delivered = Counter(spec for _kind, spec, _day in read_files(paths)[1])
    assert delivered["RACE"] == 13 and delivered["0B14"] == 5
    con = lake.connect(read_only=True)
    try:
        for raw in read_files(paths)[0]:
            layout = layout_for_length(raw[:2].decode(), len(raw))
            assert layout is not None
            name = table_name(layout)
            decoded = decode_table([raw], layout)
            stored = con.execute(f"SELECT {', '.join(decoded.column_names)} FROM lake.{name}").to_arrow_table()
            assert stored.num_rows == 1, name
            assert stored.to_pylist() == decoded.to_pylist(), name
        again = import_files(lake, paths)
        assert again.snapshot is None and again.unchanged == len(paths)
    finally:
        con.close()
