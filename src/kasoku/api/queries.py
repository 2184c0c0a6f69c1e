"""A domain-neutral registry: route path → how to turn raw parameters into a Query.

Batch (and anything else that answers "route + params" without going through HTTP routing)
needs to build the very Query the GET route would have built, so that both share one cache
entry. Domains register a builder per route; api/ never imports a domain.

A path may hold ``{name}`` segments (``/api/v1/realtime/odds/{race_id}``): a caller then names
either the template with ``name`` among the params (MCP), or a concrete path whose segment
value becomes that param (batch: ``/api/v1/realtime/odds/2024060105030101``).
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import Scope

from kasoku.api.auth import caller_user, check_user
from kasoku.engine.types import Query
from kasoku.errors import InvalidParameter, KasokuError, NotFound

QueryBuilder = Callable[[Mapping[str, Any]], Query]

# Parameters that choose how an answer is sent, never what it is: not part of a Query.
WIRE_PARAMS = frozenset({"format"})
_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _matcher(template: str) -> re.Pattern[str]:
    """``/a/{x}/b`` → a regex whose named group ``x`` is one path segment."""
    parts = _SEGMENT.split(template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


def register_query_route(app: FastAPI, path: str, build: QueryBuilder, *, per_user: bool = False) -> None:
    """Declare that GET ``path`` answers ``build(params)``; batch items may then name it.

    ``per_user``: the Query's scope is a user id, so the caller must be allowed to read that
    user (api/auth.py), and ``build`` takes ``user=`` — the caller's own user, the default
    when the params name none (None: the caller may read anyone; the builder's default).
    """
    routes: dict[str, QueryBuilder] = app.state.query_routes
    if path in routes:
        raise ValueError(f"query route {path!r} registered twice")
    routes[path] = functools.partial(_per_user, build) if per_user else build


def _per_user(build: Callable[..., Query], params: Mapping[str, Any], caller: Scope | None = None) -> Query:
    query = build(params, user=caller_user(caller) if caller is not None else None)
    if caller is not None:
        check_user(caller, query.scope)
    return query


def query_routes(app: FastAPI) -> dict[str, QueryBuilder]:
    return dict(app.state.query_routes)


def _resolve(routes: dict[str, QueryBuilder], path: str) -> tuple[QueryBuilder, dict[str, str]] | None:
    build = routes.get(path)
    if build is not None:
        return build, {}
    for template, build in routes.items():
        if "{" in template:
            found = _matcher(template).match(path)
            if found is not None:
                return build, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
    return None


def build_query(app: FastAPI, route: str, params: Mapping[str, Any], caller: Scope | None = None) -> Query:
    """The Query for ``route`` + ``params``: 404 for an unknown route, 400/422 for bad params,
    403 when ``caller`` (the request's ASGI scope) may not read the user it names."""
    routes: dict[str, QueryBuilder] = app.state.query_routes
    if "?" in route:
        raise InvalidParameter(f"route {route!r} carries a query string: give parameters in 'params'",
                               details={"route": route})
    resolved = _resolve(routes, route)
    if resolved is None:
        raise NotFound(f"no query route {route!r}", details={"routes": sorted(routes)})
    build, from_path = resolved
    clashing = sorted(k for k in from_path if k in params and params[k] != from_path[k])
    if clashing:
        raise InvalidParameter(f"{', '.join(clashing)} given in the path and differently in params",
                               details={"params": clashing})
    clean = {**{k: v for k, v in params.items() if k not in WIRE_PARAMS}, **from_path}
    try:
        if isinstance(build, functools.partial) and build.func is _per_user:
            return build(clean, caller)
        return build(clean)
    except KasokuError:
        raise
    except ValidationError as exc:
        problems = [{"where": ".".join(map(str, e["loc"])) or "params", "problem": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        raise InvalidParameter(f"invalid parameters: {summary}", status=422, code="VALIDATION_ERROR",
                               details={"errors": problems}) from None
