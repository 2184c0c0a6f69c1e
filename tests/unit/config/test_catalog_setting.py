"""The lake's catalog setting: SQLite paths, PostgreSQL URLs and libpq strings; bad ones are a
ConfigError naming the setting, and the password shows nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasoku.config import Settings
from kasoku.errors import ConfigError
from kasoku.lake.catalog import parse_catalog
from kasoku.lake.ducklake import Lake


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KASOKU_CATALOG", "KASOKU_LAKE_CATALOG", "CATALOG", "LAKE_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KASOKU_CONFIG", str(tmp_path / "none.toml"))


def test_a_url_becomes_a_libpq_string_with_its_parts_decoded() -> None:
    c = parse_catalog("postgres://kasoku:p%40ss%20w'rd@db.internal:6432/lake?sslmode=require&application_name=kasoku")
    assert c.kind == "postgres"
    assert c.target == ("postgres:host=db.internal port=6432 user=kasoku password='p@ss w\\'rd' dbname=lake "
                        "sslmode=require application_name=kasoku")
    assert c.display == "postgres:host=db.internal port=6432 user=kasoku password=*** dbname=lake sslmode=require application_name=kasoku"
    assert "p@ss" not in repr(c)
    assert parse_catalog("postgresql://db/lake").target == "postgres:host=db dbname=lake"


def test_the_libpq_form_is_kept_and_checked() -> None:
    c = parse_catalog("postgres:dbname=lake host=db user=k password='a b\\'c' connect_timeout=5")
    assert dict(c.params) == {"dbname": "lake", "host": "db", "user": "k", "password": "a b'c", "connect_timeout": "5"}
    assert c.display == "postgres:dbname=lake host=db user=k password=*** connect_timeout=5"
    assert c.redact("could not connect: password=a b'c refused") == "could not connect: password=*** refused"
    assert parse_catalog("postgresql:service=kasoku").target == "postgres:service=kasoku"


def test_sqlite_paths_stay_files() -> None:
    assert parse_catalog("/var/lib/kasoku/catalog.sqlite").target == "sqlite:/var/lib/kasoku/catalog.sqlite"
    assert parse_catalog("sqlite:rel/c.db").path == "rel/c.db"
    assert parse_catalog("C:/lake/catalog.sqlite").kind == "sqlite"  # a drive letter is not a scheme


@pytest.mark.parametrize(("value", "says"), [
    ("postgres://u:secret@db:notaport/lake", "bad port"),
    ("postgres://u:secret@db:70000/lake", "bad port"),
    ("postgres://u:secret@db/", "needs a database"),
    ("postgres://u:secret@db/lake/extra", "just the database name"),
    ("postgres://u:secret@db/lake?sslmod=require", "unknown PostgreSQL connection keyword(s) sslmod"),
    ("postgres:dbname=lake password=secret prot=1", "unknown PostgreSQL connection keyword(s) prot"),
    ("postgres:dbname=lake password='secret", "unterminated quoted value"),
    ("postgres:lake secret", "expected key=value"),
    ("postgres:host=db password=secret", "needs a database"),
    ("postgres:dbname=lake port=abc password=secret", "port must be a number"),
    ("mysql://u:hunter2x@db/lake", "unsupported catalog kind 'mysql'"),
    ("   ", "empty"),
])
def test_bad_catalogs_are_config_errors_naming_the_setting(value: str, says: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as direct:
        parse_catalog(value)
    assert says in direct.value.message and "lake_catalog" in direct.value.message
    assert "secret" not in direct.value.message
    monkeypatch.setenv("KASOKU_CATALOG", value)
    with pytest.raises(ConfigError) as from_env:  # not a pydantic error: that would echo the value
        Settings()
    assert "KASOKU_CATALOG" in from_env.value.message and "secret" not in from_env.value.message


def test_both_env_names_work_and_the_issue_name_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().lake_catalog is None
    monkeypatch.setenv("CATALOG", "/not/ours")  # only KASOKU_-prefixed names are read
    assert Settings().lake_catalog is None
    monkeypatch.setenv("KASOKU_LAKE_CATALOG", "/old/name.sqlite")
    assert Settings().lake_catalog == "/old/name.sqlite"
    monkeypatch.setenv("KASOKU_CATALOG", "postgres://u:hunter2x@db/lake")
    settings = Settings()
    assert settings.lake_catalog == "postgres://u:hunter2x@db/lake"
    assert "hunter2x" not in repr(settings)
    assert Settings(lake_catalog="/kw.sqlite").lake_catalog == "/kw.sqlite"  # keyword beats the environment
    toml = tmp_path / "kasoku.toml"
    toml.write_text('lake_catalog = "postgres:dbname=lake host=db"\n')
    monkeypatch.delenv("KASOKU_CATALOG")
    monkeypatch.delenv("KASOKU_LAKE_CATALOG")
    monkeypatch.setenv("KASOKU_CONFIG", str(toml))
    assert Settings().lake_catalog == "postgres:dbname=lake host=db"


def test_a_lake_on_postgres_attaches_through_the_postgres_catalog_and_hides_the_password(tmp_path: Path) -> None:
    lake = Lake("s3://bucket/lake", catalog="postgresql://k:secret@db:5432/lake")
    assert lake.sqlite_catalog is None
    assert lake.attach_target == "ducklake:postgres:host=db port=5432 user=k password=secret dbname=lake"
    assert lake.catalog_display == "ducklake:postgres:host=db port=5432 user=k password=*** dbname=lake"
    assert "secret" not in repr(lake)
    with pytest.raises(ConfigError, match="lake_catalog"):
        Lake(str(tmp_path), catalog="postgres://db/")
