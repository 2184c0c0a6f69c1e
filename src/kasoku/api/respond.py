"""Turn a query into an HTTP response: negotiate, ask the engine, send stored bytes.

This is the hot path of a cache hit: no pydantic, no FastAPI encoding, no serialisation and
no compression — a dictionary lookup for the body and a Response around it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kasoku.api.negotiation import choose_encoding, choose_format
from kasoku.engine.encoders import MEDIA_TYPES
from kasoku.engine.engine import Engine, Served
from kasoku.engine.types import Query

VARY = "Accept, Accept-Encoding"


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def serve_query(request: Request, query: Query) -> Response:
    fmt = choose_format(request.headers.get("accept"), request.query_params.get("format"))
    encoding = choose_encoding(request.headers.get("accept-encoding"))
    engine = engine_of(request)
    served = await engine.get(query)
    return respond(request, engine, served, fmt, encoding)


def respond(request: Request, engine: Engine, served: Served, fmt: str, encoding: str) -> Response:
    entry = served.entry
    known = (fmt, encoding) in entry.bodies
    body = entry.body(fmt, encoding, min_compress=request.app.state.settings.compress_min_bytes)
    if not known:
        engine.charge(served)
    now = engine.clock()
    private = "authorization" in request.headers or "cookie" in request.headers
    headers = {
        "ETag": body.etag,
        "Cache-Control": f"{'private' if private else 'public'}, max-age={served.remaining(now)}",
        "Age": str(served.age(now)),
        "Vary": VARY,
        "X-Cache": served.outcome,
        "X-Kasoku-Source": entry.source,
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and _etag_matches(if_none_match, body.etag):
        return Response(status_code=304, headers=headers)
    if body.encoding != "identity":
        headers["Content-Encoding"] = body.encoding
    return Response(body.content, media_type=MEDIA_TYPES[fmt], headers=headers)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
