"""Admin: invalidate the cache, look at it. Bearer token, compared in constant time."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from kasoku.api import auth
from kasoku.api.respond import engine_of
from kasoku.errors import InvalidParameter

router = APIRouter(tags=["admin"])


class InvalidateRequest(BaseModel):
    """``everything: true``, or a dataset and/or tags (e.g. ``month:2024-03``). Nothing named
    is a 400, never "everything": an empty tag list must not flush the cache."""

    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(None, description="drop every entry of this dataset", max_length=128)
    tags: list[Annotated[str, StringConstraints(max_length=256)]] | None = Field(
        None, description="drop entries carrying any of these tags", max_length=10_000)
    everything: bool = Field(False, description="drop everything")


def require_admin(request: Request) -> None:
    """The guard (api/guard.py) refuses /admin/* to non-admins before the body is read; this
    re-checks for admin routes mounted elsewhere."""
    auth.require_admin(request)


@router.post("/admin/invalidate", summary="Drop cached answers (everything, a dataset, or tags)",
             responses={400: {"description": "nothing to drop named (e.g. `{\"tags\": []}`)"},
                        401: {"description": "missing or wrong admin credentials"}})
async def invalidate(request: Request, body: InvalidateRequest | None = None) -> dict[str, Any]:
    require_admin(request)
    body = body or InvalidateRequest()
    engine = engine_of(request)
    if not body.everything and body.dataset is None and not body.tags:
        raise InvalidParameter("name what to drop: tags (at least one), a dataset, or everything: true",
                               details={"tags": body.tags})
    for name in engine.versions.followed():  # e.g. `ingest --notify`: learn the new version first
        await engine.check_versions(name)
    if body.everything:
        removed = await engine.invalidate()
    else:
        removed = await engine.invalidate(dataset=body.dataset, tags=body.tags or None)
    return {"invalidated": removed, "dataset": body.dataset, "tags": body.tags or []}


@router.get("/admin/cache", summary="Cache figures: entries, bytes, hit ratios, repeated queries, TTLs")
async def cache_stats(request: Request) -> dict[str, Any]:
    require_admin(request)
    # ``pid``: which worker process answered (``serve --workers N`` shares one port).
    return {**engine_of(request).stats(), "pid": os.getpid()}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(engine_of(request).metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/admin/advise", summary="The cache adoption flowchart walked on this server's measurements")
async def advise(request: Request) -> dict[str, Any]:
    from kasoku.engine.advisor import advise as walk

    require_admin(request)
    return walk(engine_of(request).metrics)
