"""Conformance of the importer: every real record passes its validation."""

from __future__ import annotations

from pathlib import Path

from kasoku.domains.racing.archive import import_files
from tests.samples.paths import sample_files


def test_real_samples_import(tmp_path: Path) -> None:
    """Lengths, cp932, header dates and every field parse, for all 45 real records."""
    paths = sample_files()
    summary = import_files(paths, tmp_path / "arc")
    assert summary.records == len(paths)
    assert summary.by_dataspec["RACE"] == 13 and summary.by_dataspec["0B14"] == 5
