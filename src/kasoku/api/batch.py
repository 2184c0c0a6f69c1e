"""``POST /v1/batch``: many queries in one round trip, each answered on its own.

Cache first: items whose answer is a fresh L1 hit are served at once, without waiting for a
slot; misses run in parallel, at most ``settings.batch_concurrency`` at a time. Every item
carries its own status, so one bad item never fails the others. Identical items coalesce in
the engine's single-flight. The JSON answer embeds each item's cached JSON body as-is
(no re-serialisation of rows).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack
import orjson
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kasoku.api.errors import json_safe
from kasoku.api.negotiation import choose_encoding, choose_format
from kasoku.api.queries import build_query
from kasoku.api.respond import VARY, answer, engine_of
from kasoku.api import compression
from kasoku.engine.engine import Engine
from kasoku.engine.keys import query_key
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)
router = APIRouter(tags=["batch"])

BATCH_MEDIA = {"json": "application/json", "msgpack": "application/msgpack"}
BATCH_FORMATS = tuple(BATCH_MEDIA)  # in the server's order: JSON unless MessagePack is preferred


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(..., description="path of a GET query route, e.g. /v1/listening/top-tracks", max_length=256)
    params: dict[str, Any] = Field(default_factory=dict, description="that route's query parameters")


class TooManyItems(KasokuError):
    status = 413
    code = "BATCH_TOO_LARGE"


_EXAMPLE = [{"route": "/v1/listening/top-tracks", "params": {"limit": 5}},
            {"route": "/v1/listening/stats", "params": {"granularity": "month"}}]


@router.post("/v1/batch", summary="Answer several queries at once (cache first, misses in parallel)",
             responses={200: {"description": "`{\"results\": [{status, cache, data | error}, ...]}` in item order",
                              "content": {"application/json": {}, "application/msgpack": {}}},
                        413: {"description": "More items than settings.batch_max_items"},
                        422: {"description": "The body is not a list of {route, params}"}})
async def batch(request: Request, items: list[BatchItem] = Body(..., examples=[_EXAMPLE])) -> Response:
    settings = request.app.state.settings
    if len(items) > settings.batch_max_items:
        raise TooManyItems(f"a batch holds at most {settings.batch_max_items} queries; got {len(items)}",
                           details={"max_items": settings.batch_max_items, "items": len(items)})
    fmt = choose_format(request.headers.get("accept"), request.query_params.get("format"), offered=BATCH_FORMATS)
    engine = engine_of(request)
    slots = asyncio.Semaphore(max(1, settings.batch_concurrency))
    min_compress = settings.compress_min_bytes
    results = await asyncio.gather(*(_one(request, engine, item, slots, fmt, min_compress) for item in items))
    content = (orjson.dumps({"results": results}) if fmt == "json"
               else msgpack.packb({"results": results}, use_bin_type=True))
    headers = {"Vary": VARY, "Cache-Control": "no-store"}
    encoding = choose_encoding(request.headers.get("accept-encoding"))
    if encoding != "identity" and len(content) >= min_compress:
        content = compression.compress(content, encoding)
        headers["Content-Encoding"] = encoding
    return Response(content, media_type=BATCH_MEDIA[fmt], headers=headers)


async def _one(request: Request, engine: Engine, item: BatchItem, slots: asyncio.Semaphore, fmt: str,
               min_compress: int) -> dict[str, Any]:
    try:
        query = build_query(request.app, item.route, item.params, request.scope)
        cached = engine.l1.get(query_key(query))
        if cached is not None and engine.clock() < cached.fresh_until:
            found = await answer(engine, query, fmt, "identity", min_compress=min_compress)  # a fresh hit: no slot
        else:
            async with slots:
                found = await answer(engine, query, fmt, "identity", min_compress=min_compress)
        content = found.body.content
        data: Any = orjson.Fragment(content) if fmt == "json" else msgpack.unpackb(content, raw=False)
        return {"route": item.route, "status": 200, "cache": found.served.outcome, "data": data}
    except KasokuError as exc:
        return {"route": item.route, "status": exc.status, "error": json_safe(exc.to_dict())}
    except Exception:  # one item's bug must not fail its neighbours
        log.exception("batch item %s failed", item.route)
        return {"route": item.route, "status": 500,
                "error": {"code": "INTERNAL_ERROR", "message": "internal error; see the server log", "details": {}}}
