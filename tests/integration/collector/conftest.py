"""Fixtures: a fake Spotify on a loopback port, settings pointed at it, a logged-in user, a lake."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from kasoku.config import Settings, SpotifySettings
from kasoku.domains.listening.collector.login import login
from kasoku.lake.storage import Lake
from tests.spotify_fake import FakeSpotify


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    server = FakeSpotify().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def settings(tmp_path: Path, fake: FakeSpotify) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), state=tmp_path / "state", user_id="me",
                    spotify=SpotifySettings(client_id=fake.client_id, accounts_url=fake.url, api_url=fake.url,
                                            backoff=0.01, retry_after_cap=2.0, artist_pace=0.0, timeout=5.0))


def browser_follows(url_holder: list[str]) -> None:
    """What the user's browser does: GET the authorize URL, follow the redirect to the callback."""
    url = url_holder[0].splitlines()[-1]
    httpx.get(url, follow_redirects=True, timeout=5)


def do_login(settings: Settings, user: str = "me") -> None:
    shown: list[str] = []

    def show(text: str) -> None:
        shown.append(text)
        if "authorize?" in text:
            threading.Thread(target=browser_follows, args=([text],), daemon=True).start()

    login(settings, user, port=0, open_browser=False, show=show, timeout=10)


@pytest.fixture
def logged_in(settings: Settings) -> Settings:
    do_login(settings)
    return settings


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return Lake(settings.lake)


def pasted_redirect(fake: FakeSpotify, authorize: str) -> str:
    """The redirected URL a user would copy from a browser that could not reach 127.0.0.1."""
    response = httpx.get(authorize, follow_redirects=False, timeout=5)
    assert response.status_code == 302
    return response.headers["location"]


__all__ = ["do_login", "pasted_redirect", "io", "parse_qs", "urlparse"]


def lake_plays(lake: Lake) -> list[dict[str, object]]:
    """Every stored play (the one place that reads the lake directly)."""
    lake.refresh()
    table = lake.read("plays", lake.months("plays"))
    return [] if table is None else table.to_pylist()
