"""API keys: created once, shown once, stored hashed in the state directory.

A key is ``ksk_`` + 43 url-safe characters (256 random bits). Only its blake2b digest is
kept: with that much entropy a fast hash is as good as a slow one (nothing to brute-force),
and it lets the server find a key with one dict lookup. Each key belongs to one user and has
one scope: ``read`` (that user's data only) or ``admin`` (any user, and ``/admin``).

The key file is per lake — ``<state>/keys/<lake id>.json``, mode 0600 — because keys guard
one deployment's data: two servers on two lakes sharing a state directory keep separate keys.
The server re-reads the file when it changes (checked at most once a second), so ``kasoku
keys create`` and ``revoke`` take effect on a running server without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import orjson

from kasoku.errors import ConfigError, InvalidParameter, NotFound
from kasoku.state import write_private

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
PREFIX = "ksk_"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RECHECK_SECONDS = 1.0


def digest(secret: str) -> str:
    """The stored form of a key (hex blake2b, personalised so it is useless anywhere else)."""
    return hashlib.blake2b(secret.encode("utf-8"), digest_size=32, person=b"kasoku-api-key").hexdigest()


def lake_id(lake: str) -> str:
    """A stable short id of a lake location (local paths made absolute)."""
    parsed = urlparse(lake)
    if parsed.scheme == "s3":
        norm = lake.rstrip("/")
    else:
        local = parsed.path if parsed.scheme == "file" else lake
        norm = os.path.abspath(os.path.expanduser(local))
    return hashlib.blake2b(norm.encode("utf-8"), digest_size=8).hexdigest()


def keys_path(state: Path, lake: str) -> Path:
    return state / "keys" / f"{lake_id(lake)}.json"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key (never the secret itself)."""

    name: str
    user: str
    scope: Scope
    hash: str
    created_at: float
    lake: str

    @property
    def id(self) -> str:
        """A public handle of the key (a session cookie names it by this)."""
        return self.hash[:16]


class KeyStore:
    """The keys of one lake. Reads are cached and re-checked at most once a second."""

    def __init__(self, path: Path, lake: str = "", *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.lake = lake
        self._clock = clock
        self._monotonic = monotonic
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._by_hash: dict[str, ApiKey] = {}
        self._by_id: dict[str, ApiKey] = {}
        self._generation = 0
        self._reload()

    @classmethod
    def for_lake(cls, state: Path, lake: str) -> "KeyStore":
        return cls(keys_path(state, lake), lake)

    # ------------------------------------------------------------------ reading
    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _reload(self) -> None:
        stamp = self._stat()
        self._checked = self._monotonic()
        if stamp == self._stamp:
            return
        keys: list[ApiKey] = []
        if stamp is not None:
            try:
                doc = orjson.loads(self.path.read_bytes())
                keys = [ApiKey(**item) for item in doc.get("keys", [])]
            except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
                raise ConfigError(f"{self.path}: the API key file is not valid ({exc})") from None
        self._stamp = stamp
        self._generation += 1
        self._by_hash = {k.hash: k for k in keys}
        self._by_id = {k.id: k for k in keys}

    def _fresh(self) -> None:
        if self._monotonic() - self._checked >= RECHECK_SECONDS:
            self._reload()

    @property
    def generation(self) -> int:
        """Changes whenever the key file changed (callers may cache verifications by it).
        Read per request on the hit path: ``_fresh`` in line."""
        if self._monotonic() - self._checked >= RECHECK_SECONDS:
            self._reload()
        return self._generation

    def keys(self) -> list[ApiKey]:
        self._fresh()
        return sorted(self._by_hash.values(), key=lambda k: (k.created_at, k.name))

    @property
    def enabled(self) -> bool:
        """Whether any key exists (then every data route needs one)."""
        self._fresh()
        return bool(self._by_hash)

    def verify(self, secret: str) -> ApiKey | None:
        """The key whose secret this is, or None."""
        self._fresh()
        if not secret.startswith(PREFIX):
            return None
        found = self._by_hash.get(digest(secret))
        # The dict lookup found it by digest; compare again in constant time all the same.
        if found is None or not hmac.compare_digest(found.hash, digest(secret)):
            return None
        return found

    def by_id(self, key_id: str) -> ApiKey | None:
        self._fresh()
        return self._by_id.get(key_id)

    # ------------------------------------------------------------------ writing
    def _write(self, keys: list[ApiKey]) -> None:
        write_private(self.path, orjson.dumps({"keys": [asdict(k) for k in keys]}, option=orjson.OPT_INDENT_2))
        self._stamp = None
        self._reload()

    def create(self, user: str, scope: str = "read", name: str | None = None) -> tuple[ApiKey, str]:
        """A new key: returns it and its secret (shown once; only the digest is stored)."""
        if scope not in SCOPES:
            raise InvalidParameter(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if not user or len(user) > 128:
            raise InvalidParameter("give a user id of 1-128 characters")
        self._reload()
        existing = list(self._by_hash.values())
        taken = {k.name for k in existing}
        if name is None:
            n = 1
            while f"{user}-{scope}-{n}" in taken:
                n += 1
            name = f"{user}-{scope}-{n}"
        if not _NAME.match(name):
            raise InvalidParameter(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if name in taken:
            raise InvalidParameter(f"a key named {name!r} exists already; revoke it or choose another name")
        secret = PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(name=name, user=user, scope=scope, hash=digest(secret),  # type: ignore[arg-type]
                     created_at=round(self._clock(), 3), lake=self.lake)
        self._write([*existing, key])
        return key, secret

    def revoke(self, name: str) -> ApiKey:
        self._reload()
        keys = list(self._by_hash.values())
        gone = [k for k in keys if k.name == name]
        if not gone:
            raise NotFound(f"no key named {name!r} (kasoku keys list shows them)", details={"name": name})
        self._write([k for k in keys if k.name != name])
        return gone[0]

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": k.name, "user": k.user, "scope": k.scope, "created_at": k.created_at, "id": k.id}
                for k in self.keys()]
