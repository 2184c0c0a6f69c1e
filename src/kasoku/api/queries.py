"""A domain-neutral registry: route path → how to turn raw parameters into a Query.

Batch (and anything else that answers "route + params" without going through HTTP routing)
needs to build the very Query the GET route would have built, so that both share one cache
entry. Domains register a builder per route; api/ never imports a domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError

from kasoku.engine.types import Query
from kasoku.errors import InvalidParameter, KasokuError, NotFound

QueryBuilder = Callable[[Mapping[str, Any]], Query]

# Parameters that choose how an answer is sent, never what it is: not part of a Query.
WIRE_PARAMS = frozenset({"format"})


def register_query_route(app: FastAPI, path: str, build: QueryBuilder) -> None:
    """Declare that GET ``path`` answers ``build(params)``; batch items may then name it."""
    routes: dict[str, QueryBuilder] = app.state.query_routes
    if path in routes:
        raise ValueError(f"query route {path!r} registered twice")
    routes[path] = build


def query_routes(app: FastAPI) -> dict[str, QueryBuilder]:
    return dict(app.state.query_routes)


def build_query(app: FastAPI, route: str, params: Mapping[str, Any]) -> Query:
    """The Query for ``route`` + ``params``: 404 for an unknown route, 400/422 for bad params."""
    routes: dict[str, QueryBuilder] = app.state.query_routes
    build = routes.get(route.split("?", 1)[0])
    if build is None:
        raise NotFound(f"no query route {route!r}", details={"routes": sorted(routes)})
    clean = {k: v for k, v in params.items() if k not in WIRE_PARAMS}
    try:
        return build(clean)
    except KasokuError:
        raise
    except ValidationError as exc:
        problems = [{"where": ".".join(map(str, e["loc"])) or "params", "problem": e["msg"]} for e in exc.errors()]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        raise InvalidParameter(f"invalid parameters: {summary}", status=422, code="VALIDATION_ERROR",
                               details={"errors": problems}) from None
