"""Admin: invalidate the cache, look at it. Bearer token, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kasoku.api.respond import engine_of
from kasoku.errors import KasokuError, Unauthorized

router = APIRouter(tags=["admin"])


class InvalidateRequest(BaseModel):
    """Empty body (or none) = everything; else a dataset and/or tags (e.g. ``month:2024-03``)."""

    model_config = ConfigDict(extra="forbid")
    dataset: str | None = Field(None, description="drop every entry of this dataset")
    tags: list[str] | None = Field(None, description="drop entries carrying any of these tags")
    everything: bool = Field(False, description="drop everything")


def require_admin(request: Request) -> None:
    token = request.app.state.settings.admin_token
    if not token:
        raise KasokuError("admin endpoints are disabled: set KASOKU_ADMIN_TOKEN", status=404, code="ADMIN_DISABLED")
    given = request.headers.get("authorization", "")
    scheme, _, credential = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credential.encode(), token.encode()):
        raise Unauthorized("missing or wrong admin token", headers={"WWW-Authenticate": "Bearer"})


@router.post("/admin/invalidate", summary="Drop cached answers (all, a dataset, or tags)")
async def invalidate(request: Request, body: InvalidateRequest | None = None) -> dict[str, Any]:
    require_admin(request)
    body = body or InvalidateRequest()
    engine = engine_of(request)
    for name in engine.versions.followed():  # e.g. `ingest --notify`: learn the new version first
        await engine.check_versions(name)
    if body.everything or (body.dataset is None and not body.tags):
        removed = await engine.invalidate()
    else:
        removed = await engine.invalidate(dataset=body.dataset, tags=body.tags)
    return {"invalidated": removed, "dataset": body.dataset, "tags": body.tags or []}


@router.get("/admin/cache", summary="Cache figures: entries, bytes, hit ratios, repeated queries, TTLs")
async def cache_stats(request: Request) -> dict[str, Any]:
    require_admin(request)
    return engine_of(request).stats()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(engine_of(request).metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/admin/advise", summary="Seed 000's adoption flowchart walked on this server's measurements")
async def advise(request: Request) -> dict[str, Any]:
    from kasoku.engine.advisor import advise as walk

    require_admin(request)
    return walk(engine_of(request).metrics)
