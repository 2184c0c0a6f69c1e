"""HTTP routes of the listening domain: ``/v1/listening/...``, one per tool.

Each route declares its parameters (so OpenAPI at /docs is exact), turns them into a Query
and hands it to the shared responder; the body is cached bytes, never re-encoded on a hit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query as Q, Request
from pydantic import Field, create_model
from starlette.responses import Response

from kasoku.api.auth import user_for
from kasoku.api.limits import stream_slot
from kasoku.api.negotiation import FORMATS
from kasoku.api.queries import register_query_route
from kasoku.api.respond import engine_of, serve_query
from kasoku.api.streaming import choose_stream_format, stream_response
from kasoku.config import Settings
from kasoku.domains.listening.statistics import DiscoveriesParams, EpisodesParams, StreaksParams
from kasoku.domains.listening.tools import FIRST_DAY, LAST_DAY, PlaysParams, RangeParams, SearchParams, StatsParams, TopParams, validate
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
        format=(str | None, Field(None, min_length=1, description="json | msgpack | arrow | csv | parquet (overrides Accept)",
                                  json_schema_extra={"enum": list(FORMATS)})))


TopQuery, StatsQuery, RangeQuery = _with_wire(TopParams), _with_wire(StatsParams), _with_wire(RangeParams)
SearchQuery, PlaysQuery = _with_wire(SearchParams), _with_wire(PlaysParams)
EpisodesQuery, StreaksQuery = _with_wire(EpisodesParams), _with_wire(StreaksParams)
DiscoveriesQuery = _with_wire(DiscoveriesParams)
_WIRE_FIELDS = {"user_id", "format"}


def with_user_defaults(params: RangeParams, user: str, settings: Settings) -> RangeParams:
    """The params with the user's zone and play rule filled in: both are part of the cache key,
    so a Query always names them (an answer in Tokyo time never serves a UTC request)."""
    return params.model_copy(update={"tz": params.tz or settings.listening.tz_for(user),
                                     "min_ms": params.min_ms if params.min_ms is not None
                                     else settings.listening.min_ms_for(user)})


async def _serve(request: Request, tool: str, params: RangeParams, **path: Any) -> Response:
    settings: Settings = request.app.state.settings
    scope = user_for(request, getattr(params, "user_id", None))
    if path:  # a page: the path names what (year, id); validated with the query params as one model
        params = validate(tool, {**params.model_dump(mode="json", exclude_none=True, exclude=_WIRE_FIELDS), **path})
    params = with_user_defaults(params, scope, settings)
    dumped = params.model_dump(mode="json", exclude_none=True, exclude=_WIRE_FIELDS)
    query = Query(DATASET, tool, dumped, scope)
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


@router.get("/top-albums", summary="Most played albums", responses=_RESPONSES)
async def top_albums(request: Request, params: Annotated[TopQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "top_albums", params)


@router.get("/episodes", summary="Podcasts: top shows or episodes, with minutes", responses=_RESPONSES)
async def episodes(request: Request, params: Annotated[EpisodesQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "episodes", params)


@router.get("/overview", summary="Totals of a range beside the previous equal-length range", responses=_RESPONSES)
async def overview(request: Request, params: Annotated[RangeQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "overview", params)


@router.get("/streaks", summary="Runs of consecutive listening days, longest first", responses=_RESPONSES)
async def streaks(request: Request, params: Annotated[StreaksQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "streaks", params)


@router.get("/discoveries", summary="Tracks or artists first played in a range", responses=_RESPONSES)
async def discoveries(request: Request, params: Annotated[DiscoveriesQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "discoveries", params)


@router.get("/years/{year}", summary="A year in review (sections as JSON)", responses=_RESPONSES)
async def year_in_review(request: Request, year: int, params: Annotated[RangeQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "year_in_review", params, year=year)


_PAGE_RESPONSES = {**_RESPONSES, 404: {"description": "No plays of this id in the range (error envelope)"}}


@router.get("/artists/{artist_id}", summary="One artist's page", responses=_PAGE_RESPONSES)
async def artist_page(request: Request, artist_id: str, params: Annotated[TopQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "artist_page", params, artist_id=artist_id)


@router.get("/tracks/{track_id}", summary="One track's page", responses=_PAGE_RESPONSES)
async def track_page(request: Request, track_id: str, params: Annotated[RangeQuery, Q()]) -> Response:  # type: ignore[valid-type]
    return await _serve(request, "track_page", params, track_id=track_id)


@router.get("/plays/stream", summary="Every play of a range, streamed (NDJSON, JSON array or SSE; not cached)",
            responses={200: {"description": "Rows as they come from DuckDB, bounded server memory",
                             "content": {"application/x-ndjson": {}, "application/json": {}, "text/event-stream": {}}},
                       406: {"description": "No streamable format acceptable"},
                       422: {"description": "Parameters fail validation (error envelope)"}})
async def plays_stream(request: Request,
                       start: Annotated[date | None, Q(ge=FIRST_DAY, le=LAST_DAY, description="first local day (in tz), inclusive")] = None,
                       end: Annotated[date | None, Q(ge=FIRST_DAY, le=LAST_DAY, description="last local day (in tz), inclusive")] = None,
                       user_id: UserId = None,
                       tz: Annotated[str | None, Q(max_length=64, description="IANA time zone of start/end; default: the user's")] = None,
                       min_ms: Annotated[int | None, Q(ge=0, le=86_400_000, description="streams shorter (ms) are left out")] = None,
                       format: Annotated[str | None, Q(min_length=1, description="ndjson | json | sse (overrides Accept)",
                                                       json_schema_extra={"enum": ["ndjson", "json", "sse"]})] = None) -> Response:
    fmt = choose_stream_format(request.headers.get("accept"), format)
    settings: Settings = request.app.state.settings
    scope = user_for(request, user_id)
    # A backwards range or an unknown zone is a 400 before any byte is sent.
    checked = with_user_defaults(RangeParams(start=start, end=end, tz=tz, min_ms=min_ms), scope, settings)
    params = checked.model_dump(mode="json", exclude_none=True)
    return await stream_slot(request, lambda: stream_response(engine_of(request).stream(Query(DATASET, "plays", params, scope)), fmt))


# Route path → tool: what /v1/batch may name (the builders build the same Query as the routes).
ROUTE_TOOLS = {"/v1/listening/top-tracks": "top_tracks", "/v1/listening/top-artists": "top_artists",
               "/v1/listening/top-genres": "top_genres",
               "/v1/listening/stats": "listening_stats", "/v1/listening/hours": "hourly_pattern",
               "/v1/listening/search": "search_tracks", "/v1/listening/plays": "plays",
               "/v1/listening/top-albums": "top_albums", "/v1/listening/episodes": "episodes",
               "/v1/listening/overview": "overview", "/v1/listening/streaks": "streaks",
               "/v1/listening/discoveries": "discoveries", "/v1/listening/years/{year}": "year_in_review",
               "/v1/listening/artists/{artist_id}": "artist_page", "/v1/listening/tracks/{track_id}": "track_page"}


def query_builder(tool: str, settings: Settings) -> Callable[..., Query]:
    def build(params: Mapping[str, Any], *, user: str | None = None) -> Query:
        """``user``: the caller's own user (api/auth.py), the default before the configured one."""
        raw = dict(params)
        user = raw.pop("user_id", None) or user or settings.user_id
        if not isinstance(user, str) or len(user) > 128:
            raise InvalidParameter("user_id must be a string of at most 128 characters")
        validated = with_user_defaults(validate(tool, raw), user, settings)
        return Query(DATASET, tool, validated.model_dump(mode="json", exclude_none=True), user)

    return build


def register_batch_routes(app: FastAPI, settings: Settings) -> None:
    for path, tool in ROUTE_TOOLS.items():
        register_query_route(app, path, query_builder(tool, settings), per_user=True)
