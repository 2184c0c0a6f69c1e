"""Errors that carry data and an HTTP status, rendered in one place (api/errors.py).

Nothing here imports a web framework: sources, the engine and domains raise these,
and the API turns them into the JSON envelope ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any


class KasokuError(Exception):
    """Base of every error a user may see. ``status`` is the HTTP status it maps to."""

    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, status: int | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidParameter(KasokuError):
    """A request parameter is malformed or out of range (400)."""

    status = 400
    code = "INVALID_PARAMETER"


class NotFound(KasokuError):
    """The named thing (dataset, tool, entity) does not exist (404)."""

    status = 404
    code = "NOT_FOUND"


class QueryTimeout(KasokuError):
    """A query ran past its deadline and was interrupted (504)."""

    status = 504
    code = "QUERY_TIMEOUT"


class UpstreamUnavailable(KasokuError):
    """The upstream source is busy, in maintenance or unreachable (503, Retry-After)."""

    status = 503
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamError(KasokuError):
    """The upstream answered with an error that is not the caller's fault (502)."""

    status = 502
    code = "UPSTREAM_ERROR"


class Unauthorized(KasokuError):
    """Missing or wrong credentials (401)."""

    status = 401
    code = "UNAUTHORIZED"


class InputError(KasokuError):
    """A file given to an import is malformed: names the file and, where known, the record."""

    status = 400
    code = "INVALID_INPUT"

    def __init__(self, message: str, *, path: str | None = None, record: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if record is not None:
                where += f" (record {record})"
            where += ": "
        d = dict(details or {})
        if path is not None:
            d["path"] = path
        if record is not None:
            d["record"] = record
        super().__init__(where + message, details=d)
        self.path = path
        self.record = record


class ConfigError(KasokuError):
    """Settings are inconsistent or a required setting is missing."""

    status = 500
    code = "CONFIG_ERROR"
