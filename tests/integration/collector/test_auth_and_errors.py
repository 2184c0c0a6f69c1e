"""Login (callback and pasted URL), refresh with rotation, 429 / 5xx / 403 handling."""

from __future__ import annotations

import io
import threading
from typing import Any
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from kasoku.config import Settings
from kasoku.domains.listening.collector.api import Forbidden, RateLimited
from kasoku.domains.listening.collector.auth import AuthError, TokenStore
from kasoku.domains.listening.collector.cursor import CursorStore
from kasoku.domains.listening.collector.login import login
from kasoku.domains.listening.collector.poll import Collector
from tests.integration.collector.conftest import lake_plays
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


class PastedStdin(io.TextIOBase):
    """stdin of a headless box: the user pastes the redirected URL once it exists."""

    def __init__(self) -> None:
        self.line = threading.Event()
        self.text = ""

    def paste(self, text: str) -> None:
        self.text = text + "\n"
        self.line.set()

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.line.wait(10)
        yield self.text


def test_login_accepts_the_redirected_url_pasted_on_stdin(settings: Settings, fake: FakeSpotify) -> None:
    stdin = PastedStdin()

    def show(text: str) -> None:
        if "authorize?" in text:
            url = text.splitlines()[-1]
            query = parse_qs(urlparse(url).query)
            assert query["redirect_uri"][0].startswith("http://127.0.0.1:")  # never localhost
            assert query["code_challenge_method"] == ["S256"]
            # the browser runs elsewhere: its redirect never reaches our listener
            stdin.paste(httpx.get(url, follow_redirects=False, timeout=5).headers["location"])

    tokens = login(settings, "me", port=0, open_browser=False, stdin=stdin, show=show, timeout=10)
    assert tokens.spotify_user == "fake-user" and "user-read-recently-played" in tokens.scope
    assert TokenStore(settings.state, "me").load().refresh_token == tokens.refresh_token  # type: ignore[union-attr]


def test_login_refuses_a_url_of_another_attempt(settings: Settings, fake: FakeSpotify) -> None:
    stdin = PastedStdin()

    def show(text: str) -> None:
        if "authorize?" in text:
            stdin.paste("http://127.0.0.1:1/callback?code=abc&state=someone-else")

    with pytest.raises(AuthError, match="state does not match"):
        login(settings, "me", port=0, open_browser=False, stdin=stdin, show=show, timeout=10)
    assert TokenStore(settings.state, "me").load() is None


def test_expired_token_is_refreshed_once_and_the_rotated_token_stored(logged_in: Settings, fake: FakeSpotify,
                                                                      lake: Any) -> None:
    fake.add_plays(3, start=T0)
    old = TokenStore(logged_in.state, "me").load()
    assert old is not None
    fake.expire_tokens()  # the stored access token looks fresh to us but Spotify says 401
    with Collector(logged_in, lake, "me") as collector:
        assert collector.poll().written == 3
    new = TokenStore(logged_in.state, "me").load()
    assert new is not None and new.refresh_token != old.refresh_token
    assert old.refresh_token not in fake.refresh_tokens and new.refresh_token in fake.refresh_tokens


def test_a_lost_rotation_says_to_log_in_again(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.refresh_tokens.clear()
    fake.expire_tokens()
    with Collector(logged_in, lake, "me") as collector, pytest.raises(AuthError, match="spotify login"):
        collector.poll()


def test_429_within_the_cap_is_waited_for_and_reported(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.add_plays(4, start=T0)
    fake.fail("/v1/me/player/recently-played", 429, headers={"Retry-After": "1"})
    waits: list[float] = []
    with Collector(logged_in, lake, "me") as collector:
        collector.api.sleep = waits.append
        assert collector.poll().written == 4
    assert waits == [1.0]
    cursor = CursorStore(logged_in.state, "me").load()
    assert cursor.rate_limited == 1 and cursor.last_rate_limit and cursor.last_rate_limit["retry_after"] == 1.0


def test_absurd_retry_after_stops_the_poll_without_losing_plays(logged_in: Settings, fake: FakeSpotify,
                                                                lake: Any) -> None:
    fake.add_plays(4, start=T0)
    fake.fail("/v1/me/player/recently-played", 429, headers={"Retry-After": "74214"})
    waits: list[float] = []
    with Collector(logged_in, lake, "me") as collector:
        collector.api.sleep = waits.append
        with pytest.raises(RateLimited, match="74214"):
            collector.poll()
        assert waits == [] and lake_plays(lake) == []
        cursor = CursorStore(logged_in.state, "me").load()
        assert cursor.cursor_ms is None and cursor.last_rate_limit["capped"] and "74214" in (cursor.last_error or "")
        assert collector.poll().written == 4  # the next poll reads the same plays


def test_5xx_backs_off_then_succeeds(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.add_plays(2, start=T0)
    fake.fail("/v1/me/player/recently-played", 503, times=2)
    waits: list[float] = []
    with Collector(logged_in, lake, "me") as collector:
        collector.api.sleep = waits.append
        assert collector.poll().written == 2
    assert waits == [0.01, 0.02]


def test_403_is_explained(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.fail("/v1/me/player/recently-played", 403)
    with Collector(logged_in, lake, "me") as collector, pytest.raises(Forbidden, match="Premium"):
        collector.poll()


def test_not_logged_in_is_a_clear_error(settings: Settings, lake: Any) -> None:
    with Collector(settings, lake, "nobody") as collector, pytest.raises(AuthError, match="kasoku spotify login --user nobody"):
        collector.poll()
