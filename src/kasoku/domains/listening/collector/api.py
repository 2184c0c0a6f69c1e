"""The Web API calls the collector makes, with Spotify's error rules applied in one place.

- ``401``: the access token expired (or was revoked): refresh once (storing a rotated refresh
  token), retry once; a second 401 is an error that says to log in again.
- ``429``: wait ``Retry-After`` seconds, but never more than ``spotify.retry_after_cap``;
  an absurd ask (74 214 s has been seen) ends the call with :class:`RateLimited` instead of
  hanging the collector, and every 429 is reported (``on_event``) — data is never dropped:
  the cursor does not move, the next poll reads the same plays again.
- ``5xx`` and network errors: exponential back-off (``spotify.backoff``, doubling), at most
  ``spotify.max_attempts`` attempts.
- ``403``: said plainly — in Development Mode it usually means the app owner's Premium lapsed
  or the endpoint is not allowed for the app (since the Feb 2026 changes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.auth import AuthError, TokenStore, Tokens, refresh
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)

Event = Callable[[str, dict[str, Any]], None]  # (kind, details): "rate_limited", "retry", "refreshed"


class SpotifyError(KasokuError):
    """Spotify answered with an error the collector cannot fix by retrying."""

    status = 502
    code = "SPOTIFY_ERROR"


class RateLimited(SpotifyError):
    """429 with a Retry-After beyond the cap, or 429 on every attempt."""

    code = "SPOTIFY_RATE_LIMITED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Forbidden(SpotifyError):
    code = "SPOTIFY_FORBIDDEN"


FORBIDDEN_HINT = ("Spotify answered 403 Forbidden for {what}. For an app in Development Mode this usually means "
                  "the app owner's Spotify Premium has lapsed (required since 9 March 2026), this user is not one of "
                  "the app's (at most 5) allowed users, or the endpoint is not allowed for the app any more. "
                  "Check the app in the Spotify developer dashboard.")


def retry_after_seconds(value: str | None) -> float:
    """Seconds from a Retry-After header; Spotify sends seconds (absent or bad: 1 s)."""
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


class SpotifyApi:
    """Authenticated GETs against ``spotify.api_url`` for one user."""

    def __init__(self, spotify: SpotifySettings, store: TokenStore, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 on_event: Event | None = None) -> None:
        self.spotify = spotify
        self.store = store
        self.client = client or httpx.Client(timeout=spotify.timeout)
        self.sleep = sleep
        self.clock = clock
        self.on_event = on_event or (lambda kind, details: None)
        self.calls = 0  # HTTP requests made to the Web API (not counting token refreshes)
        self._tokens: Tokens | None = None

    def close(self) -> None:
        self.client.close()

    def tokens(self) -> Tokens:
        if self._tokens is None:
            self._tokens = self.store.load()
            if self._tokens is None:
                raise AuthError(f"user {self.store.user_id!r} is not logged in to Spotify: "
                                f"run `kasoku spotify login --user {self.store.user_id}`")
        return self._tokens

    def _refresh(self) -> Tokens:
        tokens = refresh(self.client, self.spotify, self.store, self.tokens(), clock=self.clock)
        self.on_event("refreshed", {})
        return tokens

    def get(self, path: str, params: dict[str, Any] | None = None, *, what: str | None = None) -> Any:
        """GET ``api_url + path`` as JSON, with the rules of the module docstring."""
        tokens = self.tokens()
        if not tokens.fresh(self.clock()):
            tokens = self._refresh()
        url = self.spotify.api_url.rstrip("/") + path
        refreshed = False
        delay = self.spotify.backoff
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                response = self.client.get(url, params=params, headers={"Authorization": f"Bearer {tokens.access_token}"},
                                           timeout=self.spotify.timeout)
            except httpx.HTTPError as exc:
                if attempt >= self.spotify.max_attempts:
                    raise SpotifyError(f"Spotify Web API unreachable at {self.spotify.api_url}: {exc}") from None
                self.on_event("retry", {"reason": type(exc).__name__, "wait": delay})
                self.sleep(delay)
                delay *= 2
                continue
            status = response.status_code
            if status == 200:
                return response.json()
            if status == 401 and not refreshed:
                refreshed = True
                tokens = self._refresh()
                attempt -= 1  # the retry after a refresh is not a failed attempt
                continue
            if status == 401:
                raise AuthError("Spotify refused a freshly refreshed access token: run `kasoku spotify login` again")
            if status == 403:
                raise Forbidden(FORBIDDEN_HINT.format(what=what or path))
            if status == 429:
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                capped = asked > self.spotify.retry_after_cap
                self.on_event("rate_limited", {"retry_after": asked, "capped": capped, "path": path})
                log.warning("Spotify rate limit on %s: Retry-After %.0f s%s", path, asked,
                            f" (beyond the cap of {self.spotify.retry_after_cap:.0f} s)" if capped else "")
                if capped:
                    raise RateLimited(f"Spotify asked to wait {asked:.0f} s (Retry-After) on {path}; that is beyond "
                                      f"spotify.retry_after_cap = {self.spotify.retry_after_cap:.0f} s, so this poll stops "
                                      "here (nothing was written; the next poll reads the same plays again)", asked)
                if attempt >= self.spotify.max_attempts:
                    raise RateLimited(f"Spotify kept answering 429 on {path} after {attempt} attempts", asked)
                self.sleep(asked)
                continue
            if status >= 500 and attempt < self.spotify.max_attempts:
                self.on_event("retry", {"reason": f"HTTP {status}", "wait": delay})
                self.sleep(delay)
                delay *= 2
                continue
            raise SpotifyError(f"Spotify Web API answered {status} on {path}: {response.text[:200]}",
                               details={"status": status})

    def recently_played(self, *, after_ms: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": 50}
        if after_ms is not None:
            params["after"] = after_ms
        page = self.get("/v1/me/player/recently-played", params, what="recently-played")
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise SpotifyError("recently-played answered without an items list")
        return page

    def artist(self, artist_id: str) -> dict[str, Any] | None:
        try:
            found = self.get(f"/v1/artists/{artist_id}", what=f"artist {artist_id}")
        except SpotifyError as exc:
            if exc.details.get("status") == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    def me(self) -> dict[str, Any]:
        found = self.get("/v1/me", what="the current user")
        return found if isinstance(found, dict) else {}
