"""``kasoku racing import``: summary on success, one clear line and exit 1 on bad input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kasoku.cli import app
from kasoku.domains.racing.archive import read_manifest
from kasoku.domains.racing.builder import build_race, build_win_odds

RACE = "2024060105030101"


def test_import_then_reimport_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "race.jvd"
    src.write_bytes(build_race(RACE, "テスト", 1600) + build_win_odds(RACE, {1: 2.0}))
    archive = tmp_path / "archive"
    first = CliRunner().invoke(app, ["racing", "import", str(src), "--archive", str(archive)])
    assert first.exit_code == 0, first.output
    assert "new records" in first.output
    assert read_manifest(archive)["dataspecs"]["RACE"]["records"] == 2
    again = CliRunner().invoke(app, ["racing", "import", str(src), "--archive", str(archive), "--dataspec", "RACE"])
    assert again.exit_code == 0 and read_manifest(archive)["dataspecs"]["RACE"]["records"] == 2


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jvd"
    bad.write_bytes(b"XX garbage\r\n")
    result = CliRunner().invoke(app, ["racing", "import", str(bad), "--archive", str(tmp_path / "a")])
    assert result.exit_code == 1 and "record 1" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["racing", "import", str(tmp_path / "nope.jvd"), "--archive", str(tmp_path)])
    assert missing.exit_code == 1 and "no such file" in missing.output
    wrong_spec = CliRunner().invoke(app, ["racing", "import", str(bad), "--archive", str(tmp_path), "--dataspec", "ZZZZ"])
    assert wrong_spec.exit_code == 1
    assert not (tmp_path / "a").exists()
