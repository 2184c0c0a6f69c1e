"""Health: ``/health/live`` (the process answers) and ``/health/ready`` (it can serve data).

Liveness touches nothing — no pool, no I/O, no lock — so it answers in microseconds however
busy the DuckDB workers are; a supervisor restarting on failed liveness never restarts a
server that is merely loaded. Readiness asks every domain (``Domain.health``: the DuckDB
pool's last check, the lake's catalog, the upstream client) with a deadline, and reports
Redis's breaker. It answers 503 (with Retry-After) when a domain is not ready; Redis being
down is reported but does not make the server unready: the cache degrades to memory.
``/health`` is readiness under its old name.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from kasoku import __version__

router = APIRouter(tags=["health"])
READY_TIMEOUT = 2.0

_LIVE = orjson.dumps({"ok": True, "version": __version__})


@router.get("/health/live", summary="Liveness: the process answers (no I/O)",
            responses={200: {"description": '`{"ok": true, "version"}`'}})
async def live() -> Response:
    return Response(_LIVE, media_type="application/json", headers={"Cache-Control": "no-store"})


async def _domain(domain: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await asyncio.wait_for(domain.health(), READY_TIMEOUT)
        return result
    except TimeoutError:
        return {"ok": False, "reason": f"no answer within {READY_TIMEOUT:g} s"}
    except Exception as exc:  # a health check reports, it never fails the request
        return {"ok": False, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}


async def readiness(request: Request) -> Response:
    engine = request.app.state.engine
    domains = request.app.state.domains
    checks = dict(zip((d.name for d in domains), await asyncio.gather(*(_domain(d) for d in domains)), strict=True))
    ok = all(c.get("ok", True) for c in checks.values())
    l2 = engine.l2.stats() if engine.l2 is not None else None
    versions = {name: v["version"] for name, v in engine.versions.stats().items()}
    body = {"ok": ok, "version": __version__, "domains": checks,
            "cache": {"l1_entries": engine.l1.entries, "l2": l2 is not None,
                      "l2_breaker": l2.get("breaker") if l2 else None},
            "data_versions": versions, "worker": os.getpid()}
    headers = {"Cache-Control": "no-store"}
    if not ok:
        headers["Retry-After"] = "5"
    return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type="application/json", headers=headers)


_READY = {200: {"description": "`{ok, version, domains: {name: {ok, ...}}, cache}`"},
          503: {"description": "a domain is not ready (same body, `ok: false`), Retry-After"}}


@router.get("/health/ready", summary="Readiness: the lake, the DuckDB pool and upstreams answer; 503 when not",
            responses=_READY)
async def ready(request: Request) -> Response:
    return await readiness(request)


@router.get("/health", summary="Readiness (the former name of /health/ready)", responses=_READY)
async def health(request: Request) -> Response:
    return await readiness(request)
