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


def json_safe(value: Any) -> Any:
    """``value`` with what JSON (orjson) cannot carry made text: ints past 64 bits, odd types."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        text = str(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)[:200]


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response:
    error = {"code": code, "message": message, "details": details or {}}
    try:
        body = orjson.dumps({"error": error})
    except TypeError:  # e.g. a 2**70 echoed in details: say it as text rather than fail
        body = orjson.dumps({"error": json_safe(error)})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _kasoku_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KasokuError)
    return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)


MAX_PROBLEMS = 10


def excerpt(value: Any, limit: int) -> str | int | float | bool | None:
    """What an error body may echo of a bad input: a short excerpt, never the whole of it (a
    20 MB body must not come back as a 20 MB error), and never an int JSON cannot carry."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_handler(limit: int) -> Any:
    async def _validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        problems = [{"where": excerpt(".".join(str(p) for p in err.get("loc", ())), limit),
                     "problem": excerpt(str(err.get("msg", "")), 2 * limit), "input": excerpt(err.get("input"), limit)}
                    for err in errors[:MAX_PROBLEMS]]
        summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems)
        details: dict[str, Any] = {"errors": problems}
        if len(errors) > MAX_PROBLEMS:
            details["more_errors"] = len(errors) - MAX_PROBLEMS
            summary += f"; and {len(errors) - MAX_PROBLEMS} more"
        return envelope(422, "VALIDATION_ERROR", f"invalid request: {summary}", details)

    return _validation_error


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED", 413: "PAYLOAD_TOO_LARGE"}.get(exc.status_code, "HTTP_ERROR")
    return envelope(exc.status_code, code, str(exc.detail), {}, dict(exc.headers or {}))


async def _storage_down(_request: Request, exc: Exception) -> Response:
    """Storage or network under a source went away (S3 unreachable, a disk gone): the service
    is unavailable, not broken. One log line, no traceback; clients may retry."""
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    log.warning("storage unavailable: %s: %s", type(exc).__name__, first)
    return envelope(503, "UPSTREAM_UNAVAILABLE", "storage is unreachable; retry later", headers={"Retry-After": "5"})


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return envelope(500, "INTERNAL_ERROR", "internal error; see the server log")


def install(app: FastAPI, *, excerpt_chars: int = 80) -> None:
    app.add_exception_handler(KasokuError, _kasoku_error)
    app.add_exception_handler(RequestValidationError, _validation_handler(excerpt_chars))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OSError, _storage_down)
    app.add_exception_handler(Exception, _unexpected)
