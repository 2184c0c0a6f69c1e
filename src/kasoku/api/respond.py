"""Turn a query into an HTTP response: negotiate, ask the engine, send stored bytes.

This is the hot path of a cache hit: no FastAPI encoding, no serialisation and no
compression — a dictionary lookup for the body and a Response around it. The headers are
built in one place (:func:`wire_headers`) so the raw ASGI fast path (api/fastpath.py) and
this Starlette path answer byte for byte alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from kasoku.api.negotiation import choose_encoding, choose_format
from kasoku.api.encoders import MEDIA_TYPES
from kasoku.engine.engine import Engine, Served
from kasoku.api.bodies import Body, body_of, stored_body
from kasoku.engine.types import Query

VARY = "Accept, Accept-Encoding"


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def serve_query(request: Request, query: Query, *, memo: bool = True) -> Response:
    """Answer ``query`` in the negotiated format and coding.

    ``memo=True`` declares that the Query is a pure function of the path and the raw query
    string (plus settings): the fast path may then map later identical requests straight to
    this Query's key and skip routing and validation. Routes whose Query depends on headers
    (e.g. a scope taken from credentials) must pass ``memo=False``.
    """
    fmt = choose_format(request.headers.get("accept"), request.query_params.get("format"))
    encoding = choose_encoding(request.headers.get("accept-encoding"))
    engine = engine_of(request)
    found = await answer(engine, query, fmt, encoding, min_compress=request.app.state.settings.compress_min_bytes)
    if memo:
        remember = getattr(request.app.state, "remember_query", None)
        if remember is not None:
            remember(request.scope, query, found.served.key)
    return respond(request, engine, found.served, found.body, fmt)


@dataclass(frozen=True, slots=True)
class Answer:
    served: Served
    body: Body


async def answer(engine: Engine, query: Query, fmt: str, encoding: str, *, min_compress: int) -> Answer:
    """The one responder: a Query to the engine's entry, then its (format, coding) body.

    Every way in uses it — GET routes (:func:`serve_query`), batch, MCP, the odds WebSocket —
    and only the framing around the body differs. The fast path (api/fastpath.py) is its
    shortcut for a fresh L1 hit whose body this responder made before.
    """
    served = await engine.get(query)
    return Answer(served, await body_for(engine, served, fmt, encoding, min_compress))


# Encoding and compressing a large answer takes tens of milliseconds: do it off the event loop.
OFFLOAD_BYTES = 256 * 1024


async def body_for(engine: Engine, served: Served, fmt: str, encoding: str, min_compress: int) -> Body:
    """The stored body; made (once) and charged to L1 only when this pair was never asked for."""
    entry = served.entry
    found = stored_body(entry, fmt, encoding)
    if found is not None:
        return found
    if len(entry.payload) > OFFLOAD_BYTES:
        body = await asyncio.to_thread(body_of, entry, fmt, encoding, min_compress=min_compress)
    else:
        body = body_of(entry, fmt, encoding, min_compress=min_compress)
    engine.charge(served)
    return body


# An answer whose meta names the time zone it was computed in says so in a header too.
ZONE_META, ZONE_HEADER = "tz", "X-Kasoku-Time-Zone"


def wire_headers(served: Served, body: Body, now: float, private: bool) -> dict[str, str]:
    """Validators and freshness of one answer: ETag, Cache-Control, Age, Vary, X-Cache."""
    headers = {
        "ETag": body.etag,
        "Cache-Control": f"{'private' if private else 'public'}, max-age={served.remaining(now)}",
        "Age": str(served.age(now)),
        "Vary": VARY,
        "X-Cache": served.outcome,
        "X-Kasoku-Source": served.entry.source,
    }
    zone = served.entry.meta.get(ZONE_META)
    if isinstance(zone, str):
        headers[ZONE_HEADER] = zone
    return headers


def respond(request: Request, engine: Engine, served: Served, body: Body, fmt: str) -> Response:
    private = "authorization" in request.headers or "cookie" in request.headers
    headers = wire_headers(served, body, engine.clock(), private)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match, body.etag):
        return Response(status_code=304, headers=headers)
    if body.encoding != "identity":
        headers["Content-Encoding"] = body.encoding
    return Response(body.content, media_type=MEDIA_TYPES[fmt], headers=headers)


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): ``W/`` is ignored."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
