"""The cache-hit fast path: a raw ASGI layer that answers a repeated GET from L1 in a few µs.

On a hit the engine's work is a dict lookup; what is left in the application is FastAPI's
request handling — its per-request telemetry check, the middleware stack, route matching,
solving the route's dependencies, validating the params model with pydantic. Profiled
in-process (cProfile over direct ASGI calls), that was ~3x the cost of a bare Starlette
route returning the same bytes. So a hit skips all of it, safely:

* The first time a request is answered through the full route, the route's validated Query
  and its key are *remembered* under ``(path, raw query string)``. Validation is a pure,
  deterministic function of those two (routes opt out with ``serve_query(memo=False)`` when a
  Query also depends on headers), so a later request with the same path and the same bytes of
  query string provably validates to the same Query — the memo is that validation's result,
  not a re-implementation of it. (Query strings are not canonicalised: ``a=1&b=2`` and
  ``b=2&a=1`` are two memo entries for one cache entry, which costs a memo slot, never a
  wrong answer.)
* Only a *fresh L1 hit whose (format, coding) body already exists* is answered here. Anything
  else — a miss, a stale entry (it needs a background refresh), a new body to encode, a format
  that is not acceptable (406 envelope) — falls through to the normal route unchanged.

OpenAPI is untouched: the routes are still FastAPI routes with their declared parameters.
"""

from __future__ import annotations

import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope, Send

from kasoku.api.auth import principal_of
from kasoku.api.negotiation import NotAcceptable, choose_encoding, choose_format
from kasoku.api.respond import etag_matches, wire_headers
from kasoku.api.encoders import MEDIA_TYPES
from kasoku.engine.engine import Engine, Served
from kasoku.api.bodies import Body
from kasoku.engine.types import Query


# scope key: (Accept, Accept-Encoding, If-None-Match raw values, whether the request carries
# credentials), left by the guard so a hit does not walk the headers a second time.
WIRE_KEY = "kasoku.wire"


def wire_headers_of(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None, bytes | None, bool]:
    """The WIRE_KEY tuple from raw headers (when no guard ran)."""
    accept = accept_encoding = if_none_match = None
    private = False
    for name, value in headers:
        if name == b"accept":
            accept = value
        elif name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match":
            if_none_match = value
        elif name == b"authorization" or name == b"cookie":
            private = True
    return accept, accept_encoding, if_none_match, private


@dataclass(frozen=True, slots=True)
class Remembered:
    query: Query
    key: str
    format_param: str | None
    route: Any  # the matched route, so request metrics keep their route label


class HitMemo:
    """(path, raw query string, caller) → the Query the full route validated it to.

    The caller part is the principal's scope and user (api/auth.py ``memo_id``): a route's
    Query may depend on who asks (a read key's own user is its default ``user_id``), so one
    request line is remembered per caller kind and never answered for another. LRU-bounded
    in bytes: a client sending many long distinct URLs evicts its own lines, nothing more.
    """

    ENTRY_OVERHEAD = 200  # the tuple, the Remembered and dict slot, roughly

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, bytes, str], Remembered] = OrderedDict()

    @staticmethod
    def _size(key: tuple[str, bytes, str]) -> int:
        return len(key[0]) + len(key[1]) + len(key[2]) + HitMemo.ENTRY_OVERHEAD

    def remember(self, scope: Scope, query: Query, key: str) -> None:
        if scope.get("method") != "GET":
            return
        qs: bytes = scope.get("query_string", b"")
        values = urllib.parse.parse_qs(qs.decode("latin-1"), keep_blank_values=True).get("format")
        fmt = values[-1] if values else None  # Starlette's QueryParams.get: the last value wins
        item = (scope["path"], qs, principal_of(scope).memo_id)
        if item not in self._items:
            self.bytes += self._size(item)
        self._items[item] = Remembered(query, key, fmt, scope.get("route"))
        self._items.move_to_end(item)
        while self.bytes > self.max_bytes and self._items:
            old, _ = self._items.popitem(last=False)
            self.bytes -= self._size(old)

    def get(self, path: str, query_string: bytes, caller: str) -> Remembered | None:
        return self._items.get((path, query_string, caller))

    def __len__(self) -> int:
        return len(self._items)


class HitFastPath:
    """Answer fresh L1 hits with stored bytes before FastAPI sees the request.

    It runs in front of the whole FastAPI application (``KasokuApp.__call__``), not as a
    middleware inside it: FastAPI's own per-request work (its telemetry check, the middleware
    stack, exception layers) cost more than the hit itself. So it records the request
    metrics that MetricsMiddleware records on the normal path.
    """

    def __init__(self, *, engine: Engine, memo: HitMemo) -> None:
        self.engine = engine
        self.memo = memo
        self._formats: dict[tuple[bytes | None, str | None], str | None] = {}
        self._encodings: dict[bytes | None, str] = {}
        # Header bytes of recent answers: only Age/max-age change, once a second.
        self._headers: dict[tuple[str, str, bool, int], tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]] = {}

    async def answer(self, scope: Scope, send: Send) -> bool:
        """True when the request was answered here; False = let the application handle it."""
        if scope["method"] != "GET":
            return False
        found = self.memo.get(scope["path"], scope["query_string"], principal_of(scope).memo_id)
        if found is None:
            return False
        started = time.perf_counter()
        status = await self._answer(found, scope, send)
        if status is None:
            return False
        metrics = self.engine.metrics
        route = getattr(found.route, "path", None) or "unmatched"
        metrics.child(metrics.requests, route, str(status)).inc()
        metrics.child(metrics.latency, route).observe(time.perf_counter() - started)
        return True

    async def _answer(self, found: Remembered, scope: Scope, send: Send) -> int | None:
        engine = self.engine
        entry = engine.l1.get(found.key)
        now = engine.clock()
        if entry is None or now >= entry.fresh_until:
            return None
        wire = scope.get(WIRE_KEY)  # the guard collected these in its pass over the headers
        if wire is None:
            wire = wire_headers_of(scope["headers"])
        accept, accept_encoding, if_none_match, private = wire  # raw bytes: negotiation is memoised by them
        fmt = self._format(accept, found.format_param)
        if fmt is None:
            return None  # let the route render the 406 envelope
        encoding = self._encodings.get(accept_encoding)
        if encoding is None:
            encoding = choose_encoding(accept_encoding.decode("latin-1") if accept_encoding is not None else None)
            self._remember(self._encodings, accept_encoding, encoding)
        body: Body | None = entry.bodies.get((fmt, encoding))  # type: ignore[assignment]  # api/bodies.py memo
        if body is None:
            return None
        if engine.dataset(found.query.dataset).policy.adaptive:
            engine.adaptive.read(found.key)  # reads feed the adaptive TTL, on this path too
        metrics = engine.metrics
        metrics.lookup("l1", found.query.dataset, "hit")
        metrics.answered(found.query.dataset, found.key, "hit")
        not_modified, headers = self._header_lists(found, Served(entry, "hit", found.key, "l1"), body, fmt, now, private)
        if if_none_match and etag_matches(if_none_match.decode("latin-1"), body.etag):
            await send({"type": "http.response.start", "status": 304, "headers": not_modified})
            await send({"type": "http.response.body", "body": b""})
            return 304
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body.content})
        return 200

    def _header_lists(self, found: Remembered, served: Served, body: Body, fmt: str, now: float,
                      private: bool) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """(headers of a 304, headers of a 200), made once per answer and second."""
        key = (body.etag, found.key, private, int(now))
        cached = self._headers.get(key)
        if cached is not None:
            return cached
        validators = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                      for k, v in wire_headers(served, body, now, private).items()]
        full = list(validators)
        if body.encoding != "identity":
            full.append((b"content-encoding", body.encoding.encode("latin-1")))
        full.append((b"content-type", MEDIA_TYPES[fmt].encode("latin-1")))
        full.append((b"content-length", str(len(body.content)).encode("latin-1")))
        self._remember(self._headers, key, (validators, full))
        return validators, full

    def _format(self, accept: bytes | None, format_param: str | None) -> str | None:
        key = (accept, format_param)
        if key in self._formats:
            return self._formats[key]
        try:
            fmt: str | None = choose_format(accept.decode("latin-1") if accept is not None else None, format_param)
        except NotAcceptable:
            fmt = None
        self._remember(self._formats, key, fmt)
        return fmt

    @staticmethod
    def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
        """Negotiation results by header value: a handful of distinct clients, so a tiny bounded dict."""
        if len(cache) >= 1024:
            cache.clear()
        cache[key] = value
