"""A domain-neutral registry: route path → how to turn raw parameters into a Query.

Batch (and anything else that answers "route + params" without going through HTTP routing)
needs to build the very Query the GET route would have built, so that both share one cache
entry. Domains register a builder per route; api/ never imports a domain.

A path may hold ``{name}`` segments (``/api/v1/realtime/odds/{race_id}``): a caller then names
either the template with ``name`` among the params (MCP), or a concrete path whose segment
value becomes that param (batch: ``/api/v1/realtime/odds/2024060105030101``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError

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


def register_query_route(app: FastAPI, path: str, build: QueryBuilder) -> None:
    """Declare that GET ``path`` answers ``build(params)``; batch items may then name it."""
    routes: dict[str, QueryBuilder] = app.state.query_routes
    if path in routes:
        raise ValueError(f"query route {path!r} registered twice")
    routes[path] = build


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


def resolves(app: FastAPI, route: str) -> bool:
    """Whether ``route`` (a template or a concrete path) names a registered query route."""
    return _resolve(app.state.query_routes, route) is not None


def build_query(app: FastAPI, route: str, params: Mapping[str, Any]) -> Query:
    """The Query for ``route`` + ``params``: 404 for an unknown route, 400/422 for bad params."""
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
        return build(clean)
    except KasokuError:
        raise
    except ValidationError as exc:
        problems = [{"where": ".".join(map(str, e["loc"])) or "params", "problem": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        raise InvalidParameter(f"invalid parameters: {summary}", status=422, code="VALIDATION_ERROR",
                               details={"errors": problems}) from None
