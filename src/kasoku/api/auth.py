"""Who is asking: API keys, the admin token, the dashboard's session cookie.

The guard (api/guard.py) resolves every request's caller *before* routing, body parsing or
the cache-hit fast path, and leaves it in ``scope["kasoku.principal"]``. Routes then ask:

* :func:`principal` — a FastAPI dependency / plain function: the caller (never None once the
  guard ran; anonymous when no key exists).
* :func:`user_for` — the user whose data a request may read: the asked ``user_id`` if the
  caller may read it (403 otherwise), else the caller's own user, else the configured default.
* :func:`require_admin` — a dependency for admin-only routes (the guard already refuses
  ``/admin/*`` to non-admins; use this for admin pages elsewhere).

Credentials, in order: ``Authorization: Bearer <key or admin token>``, ``X-API-Key: <key>``,
the ``kasoku_session`` cookie. Once any key exists every route except the public ones
(:func:`is_public`; others may be added with :func:`make_public`) needs one.

Dashboard sign-in: ``POST /auth/session`` with the key (form field ``key``, JSON ``{"key"}``
or a header) sets ``kasoku_session``: ``Secure; HttpOnly; SameSite=Strict; Path=/``. The
cookie holds ``<key id>.<expiry>.<HMAC>`` signed with a secret kept in the state directory,
never the key; revoking the key ends its sessions. ``DELETE /auth/session`` signs out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.types import Scope

from kasoku.errors import KasokuError, Unauthorized
from kasoku.keys import ApiKey, KeyStore
from kasoku.state import write_private

COOKIE = "kasoku_session"
SCOPE_KEY = "kasoku.principal"
PUBLIC_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json", "/auth/session"})


class Forbidden(KasokuError):
    """Known caller, not allowed (403)."""

    status = 403
    code = "FORBIDDEN"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``user`` None = anonymous (no keys configured) or the bare admin token."""

    name: str
    user: str | None
    scope: str  # "read" | "admin" | "anonymous"
    via: str  # "key" | "cookie" | "token" | "none"
    memo_id: str = ""  # set in __post_init__: see below
    limit_id: str = ""

    def __post_init__(self) -> None:
        # What a memoised request line is keyed by besides path and query: the caller's scope
        # and user — two keys of one user and scope validate every request alike. And whom a
        # rate limit counts (api/limits.py). Made once: the hit path reads them per request.
        object.__setattr__(self, "memo_id", f"{self.scope}:{self.user or ''}")
        object.__setattr__(self, "limit_id", f"key:{self.name}" if self.via != "none" else "")

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    @property
    def reads_any_user(self) -> bool:
        return self.scope in ("admin", "anonymous")


ANONYMOUS = Principal("anonymous", None, "anonymous", "none")


class Sessions:
    """Signs and checks dashboard session cookies (HMAC-SHA256, secret in the state directory)."""

    def __init__(self, path: Path, ttl: float, *, clock: Any = time.time) -> None:
        self.path = path
        self.ttl = ttl
        self._clock = clock
        self._secret: bytes | None = None

    @classmethod
    def in_state(cls, state: Path, ttl: float) -> "Sessions":
        return cls(state / "session.secret", ttl)

    def _key(self) -> bytes:
        """The signing secret, read (or made, 0600) on first use: a server nobody signs in to
        never writes to the state directory."""
        if self._secret is None:
            try:
                secret = self.path.read_bytes()
            except FileNotFoundError:
                secret = b""
            if len(secret) < 32:
                secret = secrets.token_bytes(32)
                write_private(self.path, secret)
            self._secret = secret
        return self._secret

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key(), payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, key: ApiKey) -> str:
        payload = f"{key.id}.{int(self._clock() + self.ttl)}"
        return f"{payload}.{self._sign(payload)}"

    def key_id(self, cookie: str) -> str | None:
        """The key id a valid, unexpired cookie names; None otherwise."""
        key_id, _, rest = cookie.partition(".")
        expires, _, mac = rest.partition(".")
        if not (key_id and expires.isdigit() and mac):
            return None
        if not hmac.compare_digest(mac, self._sign(f"{key_id}.{expires}")):
            return None
        return key_id if int(expires) > self._clock() else None


class Authenticator:
    """Credentials → Principal. One per app; the guard calls :meth:`resolve` per request."""

    def __init__(self, keys: KeyStore, sessions: Sessions, admin_token: str | None) -> None:
        self.keys = keys
        self.sessions = sessions
        self._admin_token = admin_token.encode() if admin_token else None
        # Resolved credentials by header value: the hit path pays a dict lookup, not a hash.
        # Entries are checked against the key file's state, so a revocation is seen at once.
        self._seen: dict[bytes, tuple[int, Principal | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.keys.enabled

    @property
    def admin_enabled(self) -> bool:
        return self._admin_token is not None or any(k.scope == "admin" for k in self.keys.keys())

    def _from_key(self, key: ApiKey | None, via: str) -> Principal | None:
        return None if key is None else Principal(key.name, key.user, key.scope, via)

    def _secret(self, credential: str) -> Principal | None:
        found = self._from_key(self.keys.verify(credential), "key")
        if found is None and self._admin_token is not None and hmac.compare_digest(credential.encode(), self._admin_token):
            found = Principal("admin-token", None, "admin", "token")
        return found

    def resolve(self, headers: list[tuple[bytes, bytes]]) -> Principal | bool:
        """The caller: a Principal; ANONYMOUS when no credentials were given; False when some
        were given and are wrong (401 even where anonymous access is allowed)."""
        authorization = api_key = cookie = None
        for name, value in headers:
            if name == b"authorization":
                authorization = value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"cookie":
                cookie = value
        return self.resolve_values(authorization, api_key, cookie)

    def resolve_values(self, authorization: bytes | None, api_key: bytes | None, cookie: bytes | None) -> Principal | bool:
        """:meth:`resolve` from the three header values (the guard collects them in its one pass)."""
        if authorization is not None:
            seen = self._seen.get(authorization)  # the hit path: one dict lookup per request, no hashing
            if seen is not None and seen[0] == self.keys.generation:
                return seen[1] or False
            scheme, _, credential = authorization.decode("latin-1").partition(" ")
            found = self._secret(credential.strip()) if scheme.lower() == "bearer" and credential.strip() else None
            self._remember(authorization, found)
            return found or False
        if api_key is not None:
            memo_key = b"x-api-key:" + api_key  # the two headers' values never meet in the memo
            seen = self._seen.get(memo_key)
            if seen is not None and seen[0] == self.keys.generation:
                return seen[1] or False
            found = self._secret(api_key.decode("latin-1").strip())
            self._remember(memo_key, found)
            return found or False
        if cookie is not None:
            value = _cookie_value(cookie.decode("latin-1"), COOKIE)
            if value is not None:
                key_id = self.sessions.key_id(value)
                key = self.keys.by_id(key_id) if key_id else None
                return self._from_key(key, "cookie") or False
        return ANONYMOUS

    def _remember(self, header: bytes, found: Principal | None) -> None:
        if len(self._seen) >= 4096:  # bounded: a flood of wrong keys forgets them all rather than grow
            self._seen.clear()
        self._seen[header] = (self.keys.generation, found)


def _cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


# ---------------------------------------------------------------------- for routes
def principal(request: Request) -> Principal:
    """The caller of this request (a FastAPI dependency: ``Depends(principal)``)."""
    return principal_of(request.scope)


def principal_of(scope: Scope) -> Principal:
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Principal) else ANONYMOUS


def user_for(request: Request, asked: str | None) -> str:
    """The user whose data this request reads; 403 when a read key asks for another user."""
    caller = principal_of(request.scope)
    if asked is None or asked == "":
        return caller.user or request.app.state.settings.user_id
    if caller.reads_any_user or asked == caller.user:
        return asked
    raise Forbidden(f"this key reads user {caller.user!r} only", details={"user_id": asked[:64]})


def caller_user(scope: Scope) -> str | None:
    """For builders that take params without a Request (batch, MCP): the caller's own user,
    or None when the caller may read any user's data (the builder's default applies)."""
    caller = principal_of(scope)
    return caller.user


def check_user(scope: Scope, asked: str) -> None:
    """403 unless the caller may read ``asked``'s data."""
    caller = principal_of(scope)
    if not caller.reads_any_user and asked != caller.user:
        raise Forbidden(f"this key reads user {caller.user!r} only", details={"user_id": asked[:64]})


def require_admin(request: Request) -> Principal:
    """Dependency for admin-only routes: the admin token or an admin key."""
    caller = principal_of(request.scope)
    if not caller.is_admin:
        raise Forbidden("this needs an admin key or the admin token")
    return caller


def make_public(app: FastAPI, *paths: str) -> None:
    """Let ``paths`` (exact, or ending in ``/*`` for a prefix) be reached without a key, e.g. a
    dashboard's sign-in page and its static files."""
    app.state.public_paths.update(paths)


def is_public(path: str, extra: set[str]) -> bool:
    if path in PUBLIC_PATHS or path in extra:
        return True
    return any(p.endswith("/*") and path.startswith(p[:-1]) for p in extra)


# ---------------------------------------------------------------------- sign-in
router = APIRouter(tags=["auth"])


async def _key_from(request: Request) -> str | None:
    for header in ("x-api-key",):
        if request.headers.get(header):
            return request.headers[header].strip()
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    raw = await request.body()
    if not raw:
        return None
    if (request.headers.get("content-type") or "").startswith("application/json"):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        value = doc.get("key") if isinstance(doc, dict) else None
        return value if isinstance(value, str) else None
    values = urllib.parse.parse_qs(raw.decode("utf-8", "replace")).get("key")
    return values[-1] if values else None


@router.post("/auth/session", summary="Sign in with an API key: sets a secure HttpOnly session cookie",
             responses={200: {"description": "`{name, user, scope, expires_in}` and a `Set-Cookie`"},
                        401: {"description": "no key or an unknown key"}})
async def sign_in(request: Request) -> Response:
    authenticator: Authenticator = request.app.state.authenticator
    secret = await _key_from(request)
    key = authenticator.keys.verify(secret) if secret else None
    if key is None:
        raise Unauthorized("give a valid API key (form field or JSON 'key', or X-API-Key)",
                           headers={"WWW-Authenticate": "Bearer"})
    ttl = int(authenticator.sessions.ttl)
    body = orjson.dumps({"name": key.name, "user": key.user, "scope": key.scope, "expires_in": ttl})
    response = Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
    response.set_cookie(COOKIE, authenticator.sessions.issue(key), max_age=ttl, path="/", secure=True,
                        httponly=True, samesite="strict")
    return response


@router.delete("/auth/session", summary="Sign out: clears the session cookie", status_code=204,
               responses={204: {"description": "the cookie is cleared"}})
async def sign_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
