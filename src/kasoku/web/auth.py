"""Who is looking at a page: the one place the dashboard's authentication goes.

Today the listening pages show the configured user (settings ``user_id``) to anyone who can
reach the server, like the JSON routes they read. ``/admin`` (page and JSON) is guarded by
``api/guard.py``: an admin key or the admin token, or the session cookie of an admin key's
sign-in (``POST /auth/session``).
When API keys and a cookie sign-in exist, this module is what changes:

- The pages already read the API with the page request as the caller (``ApiReader(caller=
  request.scope)``), so a key's user is the default user and reading another user is the
  same 403 as on the JSON routes.
- :func:`viewer` returns the signed-in user's id (from the session cookie), or raises
  ``Unauthorized`` to send a browser to the sign-in page; every page calls it first and
  reads the API as that user (``ApiReader(user_id=...)``).
- The page's scripts fetch the JSON routes with ``credentials: "same-origin"`` (one
  function, ``api()`` in ``static/dash.js``), so the same cookie authenticates those reads;
  nothing else in the scripts knows about credentials.
"""

from __future__ import annotations

from fastapi import Request


def viewer(request: Request) -> str | None:
    """The user whose pages these are; ``None`` = the configured default user."""
    return None
