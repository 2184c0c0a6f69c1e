"""Who is looking at a page: the one place the dashboard's authentication goes.

No API keys configured: anyone who reaches the server sees the pages, as the configured user
(settings ``user_id``) or the user named by ``?user=`` — like the JSON routes they read.

Once a key exists, every page needs a signed-in key:

- The page paths are public *to the guard* (``api/guard.py`` lets them through without a
  key, :func:`install`), so that a browser without a session is sent to ``/signin`` (303)
  instead of being answered a JSON 401. :func:`viewer` is what refuses: every page calls it
  (through ``pages._reader``) before reading anything.
- ``/signin`` is a form posting the key; a valid key gets the session cookie of
  ``POST /auth/session`` (the same signed ``kasoku_session``: ``Secure; HttpOnly;
  SameSite=Strict``, naming the key, never holding it) and is sent back to the page it came
  from. ``/signout`` clears it.
- The page then reads the API as that key's user (``ApiReader(user_id=...)``, with the page
  request as the caller): a read key bound to user A shows A's listening; ``?user=B`` with
  that key is the same 403 as ``/v1/...?user_id=B``. An admin key (or the admin token) may
  name any user.
- The page's scripts fetch the JSON routes with ``credentials: "same-origin"`` (one
  function, ``api()`` in ``static/dash.js``), so the same cookie authenticates those reads.

``/admin`` is not a public path: the guard asks for an admin key, the admin token, or an
admin key's session there.
"""

from __future__ import annotations

import urllib.parse

from fastapi import FastAPI, Request

from kasoku.api.auth import ANONYMOUS, COOKIE, Authenticator, Principal, check_user, make_public, principal_of
from kasoku.errors import KasokuError

# The dashboard's paths the guard lets through without a key (viewer() then decides).
PAGE_PATHS = ("/", "/search", "/racing", "/signin", "/signout", "/years/*", "/artists/*", "/tracks/*", "/static/*")


class SignInRequired(KasokuError):
    """Keys exist and this browser has no valid session: the page sends it to /signin."""

    status = 401
    code = "UNAUTHORIZED"


def authenticator(request: Request) -> Authenticator:
    return request.app.state.authenticator  # type: ignore[no-any-return]


def keys_enabled(request: Request) -> bool:
    return authenticator(request).enabled


def caller(request: Request) -> Principal | None:
    """The signed-in key (None: nobody signed in, or no keys exist)."""
    who = principal_of(request.scope)
    return None if who is ANONYMOUS or who.via == "none" else who


def viewer(request: Request) -> str | None:
    """The user whose pages these are; ``None`` = the configured default user.

    Raises :class:`SignInRequired` when keys exist and nobody is signed in, and ``Forbidden``
    (403) when the signed-in key may not read the user named by ``?user=``."""
    asked = request.query_params.get("user") or None
    if asked is not None and len(asked) > 128:
        asked = asked[:128]
    if keys_enabled(request):
        who = caller(request)
        if who is None:
            raise SignInRequired("sign in with an API key to see these pages")
        if asked is not None:
            check_user(request.scope, asked)
            return asked
        return who.user
    return asked


def sign_in_url(request: Request) -> str:
    """``/signin?next=<this page>``."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/signin?" + urllib.parse.urlencode({"next": here})


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server only (never ``//host`` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value \
            or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):  # a browser drops tabs: "/\t/host"
        return "/"
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def same_origin(request: Request) -> bool:
    """A form post from this server's own pages: no ``Origin`` (not a browser, or an old one)
    or one naming this host. Another site's page cannot sign a browser in with its key."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return urllib.parse.urlsplit(origin).netloc.lower() == host.lower()


def install(app: FastAPI) -> None:
    make_public(app, *PAGE_PATHS)


__all__ = ["COOKIE", "SignInRequired", "caller", "install", "keys_enabled", "safe_next", "same_origin", "sign_in_url",
           "viewer"]
