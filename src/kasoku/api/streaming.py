"""Streamed answers: NDJSON, a chunked JSON array, or Server-Sent Events, batch by batch.

For results too large to hold (``plays`` over years): rows go from the source's Arrow
batches to the socket one batch at a time, so the server's memory stays flat whatever the
row count. Streamed answers are *not cached* (they would defeat the bound) and carry no
ETag; ask the paged route for cacheable pages.

Shapes:
* ``ndjson`` (``application/x-ndjson``): one JSON object per line.
* ``json`` (``application/json``): one array ``[{...},{...}]`` written in chunks.
* ``sse`` (``text/event-stream``): ``event: data`` with a JSON array of rows per batch, then
  ``event: complete`` with ``{"total": <rows>}``; a failure mid-stream is ``event: error``.

Once the first bytes left, the status cannot change: an error after that point ends NDJSON
with an ``{"error": ...}`` line and SSE with an ``error`` event; a JSON array is cut short
(invalid JSON), which a client cannot mistake for a complete answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pyarrow as pa
from starlette.responses import StreamingResponse

from kasoku.api.negotiation import NotAcceptable, parse_header
from kasoku.api.encoders import json_default
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)

STREAM_MEDIA: dict[str, str] = {
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "sse": "text/event-stream",
}
_BY_MEDIA = {"application/x-ndjson": "ndjson", "application/jsonl": "ndjson", "application/json": "json",
             "text/event-stream": "sse"}
_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def choose_stream_format(accept: str | None, format_param: str | None) -> str:
    """``?format=ndjson|json|sse`` wins; else Accept; default NDJSON."""
    if format_param:
        if format_param not in STREAM_MEDIA:
            raise NotAcceptable(f"unsupported stream format {format_param!r}",
                                details={"supported": sorted(STREAM_MEDIA.values()), "formats": sorted(STREAM_MEDIA)})
        return format_param
    if not accept:
        return "ndjson"
    ranked = sorted(((q, media) for media, q in parse_header(accept) if q > 0), reverse=True)
    for _q, media in ranked:
        if media in _BY_MEDIA:
            return _BY_MEDIA[media]
        if media in ("*/*", "application/*"):
            return "ndjson"
    raise NotAcceptable(f"none of the accepted types can be streamed: {accept}",
                        details={"supported": sorted(STREAM_MEDIA.values())})


def _rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    return batch.to_pylist()  # type: ignore[no-any-return]


async def _ndjson(batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    try:
        async for batch in batches:
            yield b"".join(orjson.dumps(row, default=json_default, option=_OPTS | orjson.OPT_APPEND_NEWLINE) for row in _rows(batch))
    except Exception as exc:
        yield orjson.dumps({"error": _mid_stream_error(exc)}, option=orjson.OPT_APPEND_NEWLINE)


async def _json_array(batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for batch in batches:
        rows = _rows(batch)
        if not rows:
            continue
        chunk = orjson.dumps(rows, default=json_default, option=_OPTS)[1:-1]  # the rows without their brackets
        yield chunk if first else b"," + chunk
        first = False
    yield b"]"


async def _sse(batches: AsyncIterator[pa.RecordBatch]) -> AsyncIterator[bytes]:
    total = 0
    try:
        async for batch in batches:
            rows = _rows(batch)
            if not rows:
                continue
            total += len(rows)
            yield b"event: data\nid: " + str(total).encode() + b"\ndata: " + orjson.dumps(rows, default=json_default, option=_OPTS) + b"\n\n"
    except Exception as exc:
        yield b"event: error\ndata: " + orjson.dumps(_mid_stream_error(exc)) + b"\n\n"
        return
    yield b"event: complete\ndata: " + orjson.dumps({"total": total}) + b"\n\n"


def _mid_stream_error(exc: Exception) -> dict[str, Any]:
    """The error envelope's body for a failure after the status was sent; never a traceback."""
    if isinstance(exc, KasokuError):
        log.warning("stream failed after it started: %s", exc.message)
        return exc.to_dict()
    log.exception("stream failed after it started", exc_info=exc)
    return {"code": "INTERNAL_ERROR", "message": "the stream failed; see the server log", "details": {}}


_WRITERS = {"ndjson": _ndjson, "json": _json_array, "sse": _sse}


async def stream_response(batches: AsyncIterator[pa.RecordBatch], fmt: str) -> StreamingResponse:
    """A chunked response writing ``batches`` in ``fmt`` (one of STREAM_MEDIA).

    The first batch is awaited before the response starts, so an error that comes before any
    row (bad range, query timeout, missing file) still gets its status and the error envelope.
    """
    iterator = batches.__aiter__()
    try:
        first: pa.RecordBatch | None = await iterator.__anext__()
    except StopAsyncIteration:
        first = None

    async def chained() -> AsyncIterator[pa.RecordBatch]:
        if first is not None:
            yield first
        async for batch in iterator:
            yield batch

    headers = {"Cache-Control": "no-store", "Vary": "Accept", "X-Cache": "bypass"}
    if fmt == "sse":
        headers["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return StreamingResponse(_WRITERS[fmt](chained()), media_type=STREAM_MEDIA[fmt], headers=headers)
