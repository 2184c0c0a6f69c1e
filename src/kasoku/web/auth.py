"""Who is looking at a page: the one place the dashboard's authentication goes.

Today the listening pages show the configured user (settings ``user_id``) to anyone who can
reach the server, like the JSON routes they read; the admin page asks for the admin token.
When API keys and a cookie sign-in exist, this module is what changes:

- :func:`viewer` returns the signed-in user's id (from the session cookie), or raises
  ``Unauthorized`` to send a browser to the sign-in page; every page calls it first and
  reads the API as that user (``ApiReader(user_id=...)``).
- The page's scripts fetch the JSON routes with ``credentials: "same-origin"`` (one
  function, ``api()`` in ``static/dash.js``), so the same cookie authenticates those reads;
  nothing else in the scripts knows about credentials.
- :func:`admin_allowed` checks the admin token the admin page's form posts (constant time,
  the same comparison as ``api/admin.py``).
"""

from __future__ import annotations

import hmac

from fastapi import Request

from kasoku.errors import KasokuError, Unauthorized


def viewer(request: Request) -> str | None:
    """The user whose pages these are; ``None`` = the configured default user."""
    return None


def admin_enabled(request: Request) -> bool:
    return bool(request.app.state.settings.admin_token)


def admin_allowed(request: Request, token: str | None) -> None:
    """Raise unless ``token`` is the admin token (404 when admin is disabled, as in api/admin.py)."""
    expected = request.app.state.settings.admin_token
    if not expected:
        raise KasokuError("admin endpoints are disabled: set KASOKU_ADMIN_TOKEN", status=404, code="ADMIN_DISABLED")
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong admin token")
