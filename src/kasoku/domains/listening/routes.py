"""HTTP routes of the listening domain: ``/v1/listening/...``, one per tool.

Each route declares its parameters (so OpenAPI at /docs is exact), turns them into a Query
and hands it to the shared responder; the body is cached bytes, never re-encoded on a hit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query as Q, Request
from starlette.responses import Response

from kasoku.api.respond import serve_query
from kasoku.domains.listening.tools import PlaysParams, RangeParams, SearchParams, StatsParams, TopParams
from kasoku.engine.types import Query

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
Format = Annotated[str | None, Q(description="json | msgpack | arrow | csv | parquet (overrides Accept)")]


async def _serve(request: Request, tool: str, params: RangeParams, user_id: str | None) -> Response:
    scope = user_id or request.app.state.settings.user_id
    query = Query(DATASET, tool, params.model_dump(mode="json", exclude_none=True), scope)
    return await serve_query(request, query)


@router.get("/top-tracks", summary="Most played tracks", responses=_RESPONSES)
async def top_tracks(request: Request, params: Annotated[TopParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "top_tracks", params, user_id)


@router.get("/top-artists", summary="Most played artists", responses=_RESPONSES)
async def top_artists(request: Request, params: Annotated[TopParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "top_artists", params, user_id)


@router.get("/stats", summary="Listening per day, ISO week or month", responses=_RESPONSES)
async def stats(request: Request, params: Annotated[StatsParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "listening_stats", params, user_id)


@router.get("/hours", summary="Plays by weekday x hour of day", responses=_RESPONSES)
async def hours(request: Request, params: Annotated[RangeParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "hourly_pattern", params, user_id)


@router.get("/search", summary="Tracks whose name or artist contains a substring", responses=_RESPONSES)
async def search(request: Request, params: Annotated[SearchParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "search_tracks", params, user_id)


@router.get("/plays", summary="The plays themselves, paged", responses=_RESPONSES)
async def plays(request: Request, params: Annotated[PlaysParams, Q()], user_id: UserId = None, format: Format = None) -> Response:
    return await _serve(request, "plays", params, user_id)
