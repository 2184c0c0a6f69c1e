"""The CLI a newcomer meets: keys, --version, serve's refusals, the importer's summary."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kasoku.cli import app
from kasoku.keys import KeyStore

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("kasoku ")


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    common = ["--lake", str(tmp_path / "lake"), "--state", str(tmp_path / "state")]
    created = runner.invoke(app, ["keys", "create", "--user", "me", "--scope", "admin", "--name", "laptop", *common])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("ksk_")
    store = KeyStore.for_lake(tmp_path / "state", str(tmp_path / "lake"))
    assert store.verify(secret) is not None
    listed = runner.invoke(app, ["keys", "list", *common])
    assert "laptop" in listed.output and secret not in listed.output
    bad = runner.invoke(app, ["keys", "create", "--user", "me", "--scope", "root", *common])
    assert bad.exit_code == 1 and "scope" in bad.output
    revoked = runner.invoke(app, ["keys", "revoke", "laptop", *common])
    assert revoked.exit_code == 0
    store._checked = float("-inf")
    assert store.verify(secret) is None
    assert runner.invoke(app, ["keys", "revoke", "laptop", *common]).exit_code == 1


def test_serve_refuses_a_missing_lake_and_an_open_port_without_keys(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["serve", "--lake", str(tmp_path / "typo"), "--state", str(tmp_path / "s")])
    assert missing.exit_code == 1 and "--create" in missing.output
    lake = tmp_path / "lake"
    lake.mkdir()
    open_port = runner.invoke(app, ["serve", "--lake", str(lake), "--host", "0.0.0.0", "--state", str(tmp_path / "s")])
    assert open_port.exit_code == 1 and "--allow-anonymous" in open_port.output


def test_import_of_nothing_recognised_fails_and_names_the_files(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    (folder / "b.json").write_text(json.dumps([1, 2]))
    result = runner.invoke(app, ["ingest", "listening", str(folder), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 1
    assert "a.json" in result.output and "b.json" in result.output and "nothing imported" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["ingest", "listening", str(empty), "--lake", str(tmp_path / "lake")]).exit_code == 1


def test_demo_refuses_zero_plays() -> None:
    assert runner.invoke(app, ["demo", "--plays", "0", "--no-serve"]).exit_code == 2


def test_a_broken_kasoku_toml_is_named(tmp_path: Path, monkeypatch: object) -> None:
    toml = tmp_path / "kasoku.toml"
    toml.write_text("lake = \n")
    monkeypatch.setenv("KASOKU_CONFIG", str(toml))  # type: ignore[attr-defined]
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 2 and "kasoku.toml" in result.output
