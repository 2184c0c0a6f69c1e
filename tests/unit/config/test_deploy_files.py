"""deploy/ stays true to the settings: every KASOKU_* it sets is a real setting with a valid value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kasoku.config import Settings

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _setting_exists(env_name: str) -> bool:
    parts = env_name.removeprefix("KASOKU_").lower().split("__")
    fields = Settings.model_fields
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


def test_systemd_unit_and_env_example_name_real_settings() -> None:
    text = (DEPLOY / "kasoku.service").read_text() + (DEPLOY / "kasoku.env.example").read_text()
    names = set(re.findall(r"\b(KASOKU_[A-Z0-9_]+)=", text))
    assert {"KASOKU_STATE", "KASOKU_LAKE", "KASOKU_REDIS_URL"} <= names
    assert all(_setting_exists(n) for n in names), [n for n in names if not _setting_exists(n)]
