"""Every error leaves as one JSON envelope: ``{"error": {"code", "message", "details"}}``.

Never a stack trace: unexpected exceptions are logged here and answered with a plain 500.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kasoku.errors import KasokuError

log = logging.getLogger(__name__)


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message, "details": details or {}}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _kasoku_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KasokuError)
    return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"where": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", ""),
         "input": err.get("input") if isinstance(err.get("input"), (str, int, float, type(None))) else None}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
    return envelope(422, "VALIDATION_ERROR", f"invalid request: {summary}", {"errors": problems})


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED", 413: "PAYLOAD_TOO_LARGE"}.get(exc.status_code, "HTTP_ERROR")
    return envelope(exc.status_code, code, str(exc.detail), {}, dict(exc.headers or {}))


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return envelope(500, "INTERNAL_ERROR", "internal error; see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(KasokuError, _kasoku_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
