"""deploy/ stays true to the settings: every KASOKU_* it sets is a real setting with a valid value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices

from kasoku.config import Settings
from kasoku.lake.catalog import parse_catalog

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _setting_exists(env_name: str) -> bool:
    fields = Settings.model_fields
    aliases = {str(choice).upper() for f in fields.values() if isinstance(f.validation_alias, AliasChoices)
               for choice in f.validation_alias.choices}
    if env_name in aliases:  # e.g. KASOKU_CATALOG for lake_catalog
        return True
    parts = env_name.removeprefix("KASOKU_").lower().split("__")
    if parts[0] not in fields:
        return False
    if len(parts) == 1:
        return True
    annotation = fields[parts[0]].annotation
    return hasattr(annotation, "model_fields") and parts[1] in annotation.model_fields  # type: ignore[union-attr]


def test_compose_sets_only_real_settings_with_valid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    env = compose["x-kasoku-env"]
    assert set(compose["services"]) == {"kasoku", "valkey", "postgres", "minio", "minio-bucket"}
    assert all(_setting_exists(name) for name in env), [n for n in env if not _setting_exists(n)]
    for name, value in env.items():  # ${VAR:-default} → the default, as compose would fill it
        monkeypatch.setenv(name, re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", lambda m: m.group(1) or "x", str(value)))
    settings = Settings()
    assert settings.redis_url == "redis://valkey:6379/0" and settings.lake == "s3://kasoku/lake"
    assert settings.s3.endpoint == "minio:9000" and settings.redis_cluster is False
    assert settings.lake_catalog is not None
    catalog = dict(parse_catalog(settings.lake_catalog).params)  # the lake's catalog is the postgres service
    assert (catalog["host"], catalog["dbname"], catalog["user"]) == ("postgres", "kasoku", "kasoku")
    postgres = compose["services"]["postgres"]["environment"]
    assert (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"]) == ("kasoku", "kasoku")
    assert "--create" in compose["services"]["kasoku"]["command"]  # the first replica makes the empty lake


def test_systemd_unit_and_env_example_name_real_settings() -> None:
    text = (DEPLOY / "kasoku.service").read_text() + (DEPLOY / "kasoku.env.example").read_text()
    names = set(re.findall(r"\b(KASOKU_[A-Z0-9_]+)=", text))
    assert {"KASOKU_STATE", "KASOKU_LAKE", "KASOKU_REDIS_URL"} <= names
    assert all(_setting_exists(n) for n in names), [n for n in names if not _setting_exists(n)]
