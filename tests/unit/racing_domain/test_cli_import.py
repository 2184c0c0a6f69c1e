"""``kasoku racing import``: into the lake, summary on success, one clear line and exit 1 on bad input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kasoku.cli import app
from kasoku.domains.racing.builder import build_race, build_win_odds
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.lake.ducklake import Lake

RACE = "2024060105030101"


def test_import_then_reimport_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "race.jvd"
    records = [build_race(RACE, "テスト", 1600), build_win_odds(RACE, {1: 2.0})]
    src.write_bytes(b"".join(records))
    lake = tmp_path / "lake"
    first = CliRunner().invoke(app, ["racing", "import", str(src), "--lake", str(lake)])
    assert first.exit_code == 0, first.output
    assert "raw records added" in first.output and "table ra" in first.output
    again = CliRunner().invoke(app, ["racing", "import", str(src), "--lake", str(lake), "--dataspec", "RACE"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert LakeClient(Lake(str(lake))).fetch_stored("RACE", "20240101000000") == records


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jvd"
    bad.write_bytes(b"XX garbage\r\n")
    lake = tmp_path / "lake"
    result = CliRunner().invoke(app, ["racing", "import", str(bad), "--lake", str(lake)])
    assert result.exit_code == 1 and "record 1" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["racing", "import", str(tmp_path / "nope.jvd"), "--lake", str(lake)])
    assert missing.exit_code == 1 and "no such file" in missing.output
    wrong_spec = CliRunner().invoke(app, ["racing", "import", str(bad), "--lake", str(lake), "--dataspec", "ZZZZ"])
    assert wrong_spec.exit_code == 1
    assert not lake.exists()
