from pathlib import Path

import pytest
from pydantic import ValidationError

from kasoku.config import Settings, documented_settings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_every_setting_has_help_text_and_is_in_the_docs() -> None:
    text = DOCS.read_text()
    for name, help_text in documented_settings().items():
        assert help_text, f"setting {name} has no description"
        assert f"`{name}`" in text, f"setting {name} is missing from docs/settings.md"


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "kasoku.toml"
    toml.write_text('lake = "/data/lake"\nquery_timeout = 5\n[s3]\nregion = "auto"\n')
    monkeypatch.setenv("KASOKU_CONFIG", str(toml))
    monkeypatch.setenv("KASOKU_QUERY_TIMEOUT", "7")
    settings = Settings()
    assert settings.lake == "/data/lake"
    assert settings.query_timeout == 7  # environment beats the file
    assert settings.s3.region == "auto"


def test_unknown_key_in_toml_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "kasoku.toml"
    toml.write_text("lak = 'typo'\n")
    monkeypatch.setenv("KASOKU_CONFIG", str(toml))
    with pytest.raises(ValidationError):
        Settings()


def test_a_policy_for_an_unknown_dataset_is_a_config_error(tmp_path: Path) -> None:
    from kasoku.errors import ConfigError
    from kasoku.service import build_app

    with pytest.raises(ConfigError, match="listenin"):
        build_app(Settings(lake=str(tmp_path), policies={"listenin": {"ttl_l1": 5}}))


def test_domain_sections_are_found_not_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listening domain's sections come from its own settings module; config names no domain."""
    from kasoku import config
    from kasoku.domains import settings_sections
    from kasoku.domains.listening.settings import ListeningSettings, SpotifySettings

    assert settings_sections()["listening"] is ListeningSettings
    assert settings_sections()["spotify"] is SpotifySettings
    assert set(settings_sections()) == {"listening", "spotify", "racing"}
    assert "kasoku.domains." not in Path(config.__file__).read_text()  # it imports the finder only
    monkeypatch.setenv("KASOKU_SPOTIFY__POLL_INTERVAL", "60")
    monkeypatch.setenv("KASOKU_LISTENING__TZ", "Asia/Tokyo")
    monkeypatch.setenv("KASOKU_RACING__CLIENT", "com")
    settings = Settings()
    assert settings.spotify.poll_interval == 60 and settings.listening.tz == "Asia/Tokyo"
    assert settings.racing.client == "com"
    monkeypatch.setenv("KASOKU_LISTENING__TZ", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()
