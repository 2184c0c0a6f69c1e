"""Spotify authorisation: Authorization Code with PKCE, token exchange, refresh with rotation.

No client secret ever lives on the user's machine (PKCE). The refresh token is the one secret:
it is kept in ``<state>/spotify/<user>/tokens.json`` (0600, written atomically by
``kasoku.state.write_private``) and never logged. Spotify may answer a refresh with a NEW
refresh token (rotation); it is stored before the access token is used, or the next refresh
would fail with ``invalid_grant``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.paths import user_dir
from kasoku.errors import KasokuError
from kasoku.state import write_private

REDIRECT_PATH = "/callback"


class AuthError(KasokuError):
    """Login or token refresh failed; the message says what to do."""

    status = 401
    code = "SPOTIFY_AUTH"


def new_verifier() -> str:
    """A random ``code_verifier`` of 64 URL-safe characters (PKCE allows 43-128)."""
    return secrets.token_urlsafe(48)[:64]


def challenge(verifier: str) -> str:
    """``code_challenge`` = base64url(SHA-256(verifier)) without padding (S256)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def redirect_uri(port: int) -> str:
    """Spotify refuses ``localhost``: loopback redirects must name the IP."""
    return f"http://127.0.0.1:{port}{REDIRECT_PATH}"


def authorize_url(spotify: SpotifySettings, *, redirect: str, verifier: str, state: str) -> str:
    if not spotify.client_id:
        raise AuthError("no Spotify client id: set spotify.client_id (env KASOKU_SPOTIFY__CLIENT_ID) to your app's Client ID")
    query = {"client_id": spotify.client_id, "response_type": "code", "redirect_uri": redirect,
             "code_challenge_method": "S256", "code_challenge": challenge(verifier), "scope": spotify.scopes,
             "state": state}
    return f"{spotify.accounts_url.rstrip('/')}/authorize?{urlencode(query)}"


@dataclass
class Tokens:
    refresh_token: str
    access_token: str = ""
    expires_at: float = 0.0  # epoch seconds
    scope: str = ""
    spotify_user: str | None = None
    display_name: str | None = None
    logged_in_at: float = field(default_factory=time.time)
    refreshed_at: float | None = None

    def fresh(self, now: float, margin: float = 60.0) -> bool:
        return bool(self.access_token) and now < self.expires_at - margin


class TokenStore:
    """The tokens of one user in the state directory."""

    def __init__(self, state: Path, user_id: str) -> None:
        self.path = user_dir(state, user_id) / "tokens.json"
        self.user_id = user_id

    def load(self) -> Tokens | None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        return Tokens(**{k: v for k, v in data.items() if k in Tokens.__dataclass_fields__})

    def save(self, tokens: Tokens) -> None:
        write_private(self.path, orjson.dumps(asdict(tokens), option=orjson.OPT_INDENT_2))


def _token_call(client: httpx.Client, spotify: SpotifySettings, form: dict[str, str]) -> dict[str, Any]:
    url = f"{spotify.accounts_url.rstrip('/')}/api/token"
    try:
        response = client.post(url, data=form, timeout=spotify.timeout)
    except httpx.HTTPError as exc:
        raise AuthError(f"could not reach the Spotify accounts service at {spotify.accounts_url}: {exc}") from None
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error") if isinstance(body, dict) else None
        described = body.get("error_description", "") if isinstance(body, dict) else ""
        if error == "invalid_grant" and form.get("grant_type") == "refresh_token":
            raise AuthError("Spotify refused the stored refresh token (revoked, or a rotated token was lost): "
                            "run `kasoku spotify login` again")
        raise AuthError(f"Spotify token endpoint answered {response.status_code}: {error or ''} {described}".strip())
    data = response.json()
    if not isinstance(data, dict) or "access_token" not in data:
        raise AuthError("Spotify token endpoint answered without an access token")
    return data


def exchange_code(client: httpx.Client, spotify: SpotifySettings, *, code: str, redirect: str, verifier: str,
                  clock: Callable[[], float] = time.time) -> Tokens:
    data = _token_call(client, spotify, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                         "client_id": spotify.client_id or "", "code_verifier": verifier})
    if not data.get("refresh_token"):
        raise AuthError("Spotify gave no refresh token: the collector could not run unattended")
    return Tokens(refresh_token=data["refresh_token"], access_token=data["access_token"],
                  expires_at=clock() + float(data.get("expires_in", 3600)), scope=data.get("scope", ""))


def refresh(client: httpx.Client, spotify: SpotifySettings, store: TokenStore, tokens: Tokens,
            clock: Callable[[], float] = time.time) -> Tokens:
    """New access token; a rotated refresh token is stored before anything uses the answer."""
    data = _token_call(client, spotify, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token,
                                         "client_id": spotify.client_id or ""})
    tokens.access_token = data["access_token"]
    tokens.expires_at = clock() + float(data.get("expires_in", 3600))
    tokens.refresh_token = data.get("refresh_token") or tokens.refresh_token
    tokens.scope = data.get("scope") or tokens.scope
    tokens.refreshed_at = clock()
    store.save(tokens)
    return tokens
