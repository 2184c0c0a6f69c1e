"""Fixtures: a fake Spotify on a loopback port, settings pointed at it, a logged-in user, a lake."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from kasoku.config import Settings
from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.login import login
from kasoku.domains.listening.domain import lake_from_settings
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
def lake(settings: Settings) -> Any:
    return lake_from_settings(settings)


def pasted_redirect(fake: FakeSpotify, authorize: str) -> str:
    """The redirected URL a user would copy from a browser that could not reach 127.0.0.1."""
    response = httpx.get(authorize, follow_redirects=False, timeout=5)
    assert response.status_code == 302
    return response.headers["location"]


__all__ = ["do_login", "pasted_redirect", "io", "parse_qs", "urlparse"]


# The helpers below are the only places the collector's tests read the lake itself, so a change
# of storage layer (manifest lake → DuckLake catalog) is adapted here once.

def _catalog_rows(lake: Any, table: str) -> list[dict[str, object]]:
    from kasoku.domains.listening.tables import ref  # type: ignore[import-not-found,unused-ignore]

    con = lake.connect(read_only=True)
    try:
        return con.execute(f"SELECT * FROM {ref(table)}").to_arrow_table().to_pylist()  # type: ignore[no-any-return]
    except Exception:  # the table does not exist yet
        return []
    finally:
        con.close()


def lake_rows(lake: Any, table: str) -> list[dict[str, object]]:
    if callable(getattr(lake, "connect", None)):
        return _catalog_rows(lake, table)
    lake.refresh()
    found = lake.read(table, lake.months(table))
    return [] if found is None else found.to_pylist()  # type: ignore[no-any-return]


def lake_plays(lake: Any) -> list[dict[str, object]]:
    """Every stored play."""
    return lake_rows(lake, "plays")


def lake_version(lake: Any) -> int:
    """The lake's committed version (manifest version, or the catalog's snapshot id)."""
    if callable(getattr(lake, "connect", None)):
        from kasoku.lake.ducklake import current_snapshot  # type: ignore[import-not-found,unused-ignore]

        con = lake.connect(read_only=True)
        try:
            return int(current_snapshot(con))
        finally:
            con.close()
    lake.refresh()
    return int(lake.manifest().version)


def lake_gaps(lake: Any, user_id: str = "me") -> list[Any]:
    """The user's gaps in the lake's collector_gaps table (oldest range first)."""
    from kasoku.domains.listening.collector.status import lake_gaps as read

    return [g for g in read(lake) if g.user_id == user_id]
