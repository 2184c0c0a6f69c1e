"""HTTP routes of the listening domain: ``/v1/listening/...``, one per tool.

Each route declares its parameters (so OpenAPI at /docs is exact), turns them into a Query
and hands it to the shared responder; the body is cached bytes, never re-encoded on a hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query as Q, Request
from pydantic import Field, create_model
from starlette.responses import Response

from kasoku.api.queries import QueryBuilder, register_query_route
from kasoku.api.respond import engine_of, serve_query
from kasoku.api.streaming import choose_stream_format, stream_response
from kasoku.domains.listening.tools import PlaysParams, RangeParams, SearchParams, StatsParams, TopParams, validate
from kasoku.engine.types import Query
from kasoku.errors import InvalidParameter

DATASET = "listening"
router = APIRouter(prefix="/v1/listening", tags=["listening"])

_RESPONSES = {
    200: {"description": "Rows under `data` (JSON); other formats by Accept or ?format=",
          "content": {"application/json": {}, "application/msgpack": {}, "application/vnd.apache.arrow.stream": {},
                      "text/csv": {}, "application/vnd.apache.parquet": {}}},
    400: {"description": "Bad parameters (error envelope)"},
    406: {"description": "No acceptable format"},
    422: {"description": "Parameters fail validation (error envelope)"},
    504: {"description": "The query ran past its deadline"},
}

UserId = Annotated[str | None, Q(description="whose plays; default: the configured user", max_length=128)]


def _with_wire(model: type[RangeParams]) -> type[RangeParams]:
    """The tool's params plus ``user_id`` and ``format``, as one query model.

    The tool models forbid unknown keys (batch and MCP callers get a clear error); FastAPI
    hands a query model *every* query parameter, so the route's model must declare the two
    that are not the tool's, or ``?format=csv`` would be rejected as an extra input.
    """
    return create_model(  # type: ignore[no-any-return,call-overload]
        f"{model.__name__}Query", __base__=model,
        user_id=(str | None, Field(None, max_length=128, description="whose plays; default: the configured user")),
        format=(str | None, Field(None, description="json | msgpack | arrow | csv | parquet (overrides Accept)")))


TopQuery, StatsQuery, RangeQuery = _with_wire(TopParams), _with_wire(StatsParams), _with_wire(RangeParams)
SearchQuery, PlaysQuery = _with_wire(SearchParams), _with_wire(PlaysParams)
_WIRE_FIELDS = {"user_id", "format"}


async def _serve(request: Request, tool: str, params: RangeParams) -> Response:
    scope = getattr(params, "user_id", None) or request.app.state.settings.user_id
    query = Query(DATASET, tool, params.model_dump(mode="json", exclude_none=True, exclude=_WIRE_FIELDS), scope)
    return await serve_query(request, query)


@router.get("/top-tracks", summary="Most played tracks", responses=_RESPONSES)
async def top_tracks(request: Request, params: Annotated[TopQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "top_tracks", params)


@router.get("/top-artists", summary="Most played artists", responses=_RESPONSES)
async def top_artists(request: Request, params: Annotated[TopQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "top_artists", params)


@router.get("/top-genres", summary="Most played genres (needs imported Web API artist objects)",
            responses={**_RESPONSES, 404: {"description": "No artist genres imported (error envelope)"}})
async def top_genres(request: Request, params: Annotated[TopQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "top_genres", params)


@router.get("/stats", summary="Listening per day, ISO week or month", responses=_RESPONSES)
async def stats(request: Request, params: Annotated[StatsQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "listening_stats", params)


@router.get("/hours", summary="Plays by weekday x hour of day", responses=_RESPONSES)
async def hours(request: Request, params: Annotated[RangeQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "hourly_pattern", params)


@router.get("/search", summary="Tracks whose name or artist contains a substring", responses=_RESPONSES)
async def search(request: Request, params: Annotated[SearchQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "search_tracks", params)


@router.get("/plays", summary="The plays themselves, paged", responses=_RESPONSES)
async def plays(request: Request, params: Annotated[PlaysQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "plays", params)


@router.get("/plays/stream", summary="Every play of a range, streamed (NDJSON, JSON array or SSE; not cached)",
            responses={200: {"description": "Rows as they come from DuckDB, bounded server memory",
                             "content": {"application/x-ndjson": {}, "application/json": {}, "text/event-stream": {}}},
                       406: {"description": "No streamable format acceptable"},
                       422: {"description": "Parameters fail validation (error envelope)"}})
async def plays_stream(request: Request, start: Annotated[date | None, Q(description="first day (UTC), inclusive")] = None,
                       end: Annotated[date | None, Q(description="last day (UTC), inclusive")] = None, user_id: UserId = None,
                       format: Annotated[str | None, Q(description="ndjson | json | sse (overrides Accept)")] = None) -> Response:
    fmt = choose_stream_format(request.headers.get("accept"), format)
    RangeParams(start=start, end=end)  # a backwards range is a 400 before any byte is sent
    params = {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None}
    scope = user_id or request.app.state.settings.user_id
    return await stream_response(engine_of(request).stream(Query(DATASET, "plays", params, scope)), fmt)


# Route path → tool: what /v1/batch may name (the builders build the same Query as the routes).
ROUTE_TOOLS = {"/v1/listening/top-tracks": "top_tracks", "/v1/listening/top-artists": "top_artists",
               "/v1/listening/top-genres": "top_genres",
               "/v1/listening/stats": "listening_stats", "/v1/listening/hours": "hourly_pattern",
               "/v1/listening/search": "search_tracks", "/v1/listening/plays": "plays"}


def query_builder(tool: str, default_user: str) -> QueryBuilder:
    def build(params: Mapping[str, Any]) -> Query:
        raw = dict(params)
        user = raw.pop("user_id", None) or default_user
        if not isinstance(user, str) or len(user) > 128:
            raise InvalidParameter("user_id must be a string of at most 128 characters")
        validated = validate(tool, raw)
        return Query(DATASET, tool, validated.model_dump(mode="json", exclude_none=True), user)

    return build


def register_batch_routes(app: FastAPI, default_user: str) -> None:
    for path, tool in ROUTE_TOOLS.items():
        register_query_route(app, path, query_builder(tool, default_user))
