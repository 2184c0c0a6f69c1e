"""``kasoku lake status`` and ``kasoku lake vacuum`` on a real lake (CLI, as an operator runs them)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kasoku.cli import app as cli_app
from kasoku.lake.maintenance import status
from tests.lake_files import data_files
from tests.plays import load_lake, make_plays


def test_status_and_vacuum(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake = load_lake(lake_dir, {m: make_plays(m, 50) for m in ("2024-01", "2024-02")})
    for seed in range(3):  # each ingest replaces the roll-up files of its month: old files pile up
        load_lake(lake, make_plays("2024-02", 20, seed=10 + seed))
    (Path(lake.data_path) / "main" / "plays" / "stray.parquet").write_bytes(b"PAR1 left by a killed writer")
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["lake", "status", "--lake", str(lake_dir)])
    assert shown.exit_code == 0, shown.output
    assert "plays" in shown.output and "rollup_tracks_monthly" in shown.output and "last ingest: snapshot" in shown.output
    before = status(lake)
    assert before.snapshots >= 5 and next(t for t in before.tables if t.name == "plays").rows == 160
    files_before = data_files(lake)

    bad = runner.invoke(cli_app, ["lake", "vacuum", "--lake", str(lake_dir), "--retention-hours", "-1"])
    assert bad.exit_code == 2
    kept = runner.invoke(cli_app, ["lake", "vacuum", "--lake", str(lake_dir)])  # default retention: 24 h
    assert kept.exit_code == 0 and "expired 0 snapshot(s)" in kept.output, kept.output
    done = runner.invoke(cli_app, ["lake", "vacuum", "--lake", str(lake_dir), "--retention-hours", "0", "--compact"])
    assert done.exit_code == 0, done.output
    assert "compacted:" in done.output and "orphaned" in done.output
    after = status(lake)
    assert after.snapshots == 1 and next(t for t in after.tables if t.name == "plays").rows == 160
    assert "main/plays/stray.parquet" not in data_files(lake) and len(data_files(lake)) < len(files_before)
