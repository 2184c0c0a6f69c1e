"""The pages read kasoku's own API, in-process: the very Query a GET route builds, the very
JSON body it sends.

A page names a route and its parameters like any client (``/v1/listening/top-tracks``,
``{"limit": 10}``); :class:`ApiReader` turns them into the route's Query through the shared
query-route registry (``api/queries.py``: the builders batch and MCP use), asks the engine,
and decodes the stored JSON body. So a server-rendered table shows the API's numbers byte
for byte, costs a cache hit when warm, and the ``url()`` it renders for the page's scripts
to fetch is the same cache entry (the fast path then answers it from stored bytes).
The web package knows routes by their paths only; it imports no domain.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Scope

from kasoku.api.queries import build_query, resolves
from kasoku.api.respond import body_for
from kasoku.engine.engine import Engine
from kasoku.errors import InvalidParameter, KasokuError

Params = Mapping[str, Any]


def url(path: str, params: Params | None = None) -> str:
    """``path?a=1&b=2`` with ``None`` dropped, in the given order: the page fetches exactly this."""
    clean = [(k, v) for k, v in (params or {}).items() if v is not None]
    return f"{path}?{urllib.parse.urlencode(clean)}" if clean else path


class Row(dict[str, Any]):
    """A decoded JSON object whose keys are also attributes: a template's ``r.play_count`` is
    then one attribute read, not a failed ``getattr`` (an exception) followed by ``r[...]`` —
    a page reads some 500 fields, and the exceptions were half its rendering time."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _rows(value: Any) -> Any:
    if isinstance(value, dict):
        return Row((k, _rows(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_rows(v) for v in value]
    return value


class ApiReader:
    """Routes answered through the engine, as the decoded JSON the GET route would send."""

    def __init__(self, app: FastAPI, *, user_id: str | None = None, caller: Scope | None = None) -> None:
        self.app = app
        self.user_id = user_id  # set by web/auth.py when a signed-in user is not the default
        # The page request's scope: the query builders apply the same per-user check (and the
        # key's user as the default) as when the browser asks the route itself.
        self.caller = caller
        found = getattr(app.state, "web_supports", None)
        if found is None:  # what the routes accept does not change while the app lives: probed once
            found = app.state.web_supports = {}
        self._supports: dict[tuple[str, str], bool] = found

    @property
    def engine(self) -> Engine:
        return self.app.state.engine  # type: ignore[no-any-return]

    def has(self, route: str) -> bool:
        """Whether a query route is registered (a domain or a route may be absent)."""
        return resolves(self.app, route)

    def supports(self, route: str, param: str, probe: Any) -> bool:
        """Whether ``route`` accepts ``param`` (e.g. ``tz``): builds a Query, runs nothing."""
        key = (route, param)
        if key not in self._supports:
            try:
                build_query(self.app, route, {param: probe})
                self._supports[key] = True
            except KasokuError:
                self._supports[key] = False
        return self._supports[key]

    def params(self, params: Params) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        if self.user_id is not None:
            clean["user_id"] = self.user_id
        return clean

    async def get(self, route: str, params: Params | None = None) -> dict[str, Any]:
        """The JSON body of ``GET route?params`` (raises the route's KasokuError, e.g. 404)."""
        query = build_query(self.app, route, self.params(params or {}), self.caller)
        served = await self.engine.get(query)
        body = await body_for(self.engine, served, "json", "identity", self.app.state.settings.compress_min_bytes)
        decoded = orjson.loads(body.content)
        if not isinstance(decoded, dict):
            raise InvalidParameter(f"route {route} does not answer a JSON object")
        return _rows(decoded)  # type: ignore[no-any-return]

    async def rows(self, route: str, params: Params | None = None) -> list[dict[str, Any]]:
        """``data`` of a listening-style answer."""
        return list((await self.get(route, params)).get("data") or [])

    async def optional_rows(self, route: str, params: Params | None = None) -> list[dict[str, Any]] | None:
        """Rows, or None when the route is absent or answers 404 (e.g. no genres imported)."""
        if not self.has(route):
            return None
        try:
            return await self.rows(route, params)
        except KasokuError as exc:
            if exc.status == 404:
                return None
            raise
