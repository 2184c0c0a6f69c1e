"""The guard: one raw ASGI layer in front of everything, the cache-hit fast path included.

Per request, in this order, each check a few comparisons (the hit path pays for all of them):

1. sizes — header bytes (431), query string length (414) and parameter count (400), body
   (413: by Content-Length, or counted while buffering a body sent without one);
2. ``Host`` in the allowed hosts (400) — a DNS-rebinding page reaches a loopback server with
   its own host name, which is not ours;
3. ``Origin`` for ``/mcp`` and WebSockets: absent (not a browser), the server's own origin or
   one of ``allowed_origins``; ``null`` is refused (403) — browsers send it from sandboxes;
4. the caller (api/auth.py): once any API key exists, every non-public path needs one (401;
   without keys, credentials are only looked at for ``/admin``);
   ``/admin/*`` needs an admin key or the admin token (401/403) — before the body is read;
5. the caller's request rate, per key (or per address without one) (429 + Retry-After);
6. ``HEAD`` is answered as the ``GET`` it mirrors, without the body.

Refusals are the JSON error envelope, sent from here (a WebSocket is closed with 1008,
which the server turns into HTTP 403 before the handshake completes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasoku.api.auth import ANONYMOUS, SCOPE_KEY, Authenticator, is_public
from kasoku.api.fastpath import WIRE_KEY
from kasoku.api.limits import RateLimiter, caller_of
from kasoku.config import LimitSettings

# What the guard may answer on any route, declared on every operation of the OpenAPI document.
RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "bad request: a bad parameter, too many query parameters, or a Host not served (error envelope)"},
    401: {"description": "an API key is needed (or the one given is wrong)"},
    403: {"description": "this key may not read this (another user's data, an admin route, a foreign Origin)"},
    404: {"description": "no such thing (an unknown id or dataset; admin routes when admin is disabled)"},
    413: {"description": "the body is larger than settings.limits.max_body_bytes"},
    414: {"description": "the query string is longer than settings.limits.max_query_bytes"},
    429: {"description": "this key's rate (or streams, jobs) limit; see Retry-After"},
    431: {"description": "the headers are larger than settings.limits.max_header_bytes"},
    503: {"description": "storage or an upstream is unavailable, or the server is at a limit; see Retry-After"},
}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_POLICY_VIOLATION = 1008


def allowed_host_set(allowed: list[str] | None, bind_host: str) -> frozenset[str] | None:
    """The Host names served; None = any (``'*'`` given)."""
    if allowed is not None:
        if "*" in allowed:
            return None
        return frozenset(h.lower() for h in allowed)
    names = set(LOOPBACK_HOSTS)
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(bind_host.lower())
        names.add(f"[{bind_host.lower()}]")
    return frozenset(names)


def host_name(value: bytes) -> str:
    """``example.org:8000`` → ``example.org``; ``[::1]:8000`` → ``[::1]``."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or {}}})


async def refuse(scope: Scope, send: Send, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": message[:120]})
        return
    body = _envelope(status, code, message, details)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """See the module docstring. ``public``: the app's paths reachable without a key besides
    the built-in ones (the same set ``auth.make_public`` adds to). ``first``: what answers an
    admitted HTTP request before ``app`` does, if it can (the cache-hit fast path: called from
    here rather than from a layer of its own, a coroutine less per hit); True = answered."""

    def __init__(self, app: ASGIApp, *, limits: LimitSettings, authenticator: Authenticator,
                 hosts: frozenset[str] | None, origins: frozenset[str], rate: RateLimiter,
                 rate_anonymous: RateLimiter, public: set[str],
                 first: Callable[[Scope, Send], Awaitable[bool]] | None = None) -> None:
        self.app = app
        self.first = first
        self.limits = limits
        self.auth = authenticator
        self.hosts = hosts
        self.origins = origins
        self.rate = rate if rate.enabled else None
        self.rate_anonymous = rate_anonymous if rate_anonymous.enabled else None
        self.public = public
        self._hosts_seen: dict[bytes, bool] = {}  # Host header value -> served (a handful of values)
        self._public_seen: dict[str, bool] = {}
        self._public_size = len(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        size = 0
        host = origin = length = authorization = api_key = cookie = None
        accept = accept_encoding = if_none_match = None
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"host":
                host = value
            elif name == b"authorization":
                authorization = value
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"accept":
                accept = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                length = value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"cookie":
                cookie = value
        # What the fast path negotiates with, collected in this same pass (api/fastpath.py)
        scope[WIRE_KEY] = (accept, accept_encoding, if_none_match, authorization is not None or cookie is not None)
        if size > limits.max_header_bytes:
            await refuse(scope, send, 431, "HEADERS_TOO_LARGE", f"request headers exceed {limits.max_header_bytes} bytes",
                         {"limit": limits.max_header_bytes})
            return
        query = scope.get("query_string", b"")
        if query:
            if len(query) > limits.max_query_bytes:
                await refuse(scope, send, 414, "QUERY_TOO_LONG", f"the query string exceeds {limits.max_query_bytes} bytes",
                             {"limit": limits.max_query_bytes})
                return
            if query.count(b"&") >= limits.max_query_params:
                await refuse(scope, send, 400, "TOO_MANY_PARAMETERS",
                             f"more than {limits.max_query_params} query parameters", {"limit": limits.max_query_params})
                return
        if self.hosts is not None and (host is None or not (self._hosts_seen.get(host) or self._host_ok(host))):
            await refuse(scope, send, 400, "INVALID_HOST", "this Host is not served here (see settings.allowed_hosts)",
                         {"host": host.decode("latin-1")[:64] if host else None})
            return
        path: str = scope["path"]
        if origin is not None and (kind == "websocket" or path == "/mcp") and not self._origin_ok(origin, host, scope):
            await refuse(scope, send, 403, "ORIGIN_NOT_ALLOWED", "this Origin may not call here (see settings.allowed_origins)",
                         {"origin": origin.decode("latin-1")[:64]})
            return

        who = self.auth.resolve_values(authorization, api_key, cookie)
        if path.startswith("/admin"):
            if who is False or who is ANONYMOUS or who is None or not who.is_admin:  # type: ignore[union-attr]
                await self._admin_refusal(scope, send, who)
                return
        # A valid key needs no more checks (the hit path with a key stops here); only a caller
        # without one asks whether keys exist and whether the path is public.
        elif (who is False or who is ANONYMOUS) and self.auth.enabled and not self._public(path):
            await refuse(scope, send, 401, "UNAUTHORIZED",
                         "an API key is needed: Authorization: Bearer <key> or X-API-Key (kasoku keys create)",
                         headers={"WWW-Authenticate": "Bearer"})
            return
        if who is False or who is None:
            who = ANONYMOUS
        scope[SCOPE_KEY] = who

        limit_id = who.limit_id  # type: ignore[union-attr]
        rate = self.rate if limit_id else self.rate_anonymous
        if rate is not None and not path.startswith("/health"):
            wait = rate.hit(limit_id or caller_of(scope))
            if wait is not None:
                await refuse(scope, send, 429, "RATE_LIMITED", "too many requests; slow down",
                             {"retry_after": wait}, {"Retry-After": str(int(wait))})
                return

        if kind == "http":
            method = scope["method"]
            if length is not None:
                if not length.isdigit() or int(length) > limits.max_body_bytes:
                    await self._too_large(scope, send)
                    return
            elif method != "GET" and method in ("POST", "PUT", "PATCH", "DELETE"):
                buffered = await self._buffer(receive)
                if buffered is None:
                    await self._too_large(scope, send)
                    return
                receive = buffered
            if method == "HEAD":
                scope["method"] = "GET"
                send = _without_body(send)
            first = self.first
            if first is not None and await first(scope, send):
                return
        await self.app(scope, receive, send)

    def _public(self, path: str) -> bool:
        """is_public, remembered per path (bounded); forgotten when a path is made public."""
        if len(self.public) != self._public_size:
            self._public_seen.clear()
            self._public_size = len(self.public)
        ok = self._public_seen.get(path)
        if ok is None:
            ok = is_public(path, self.public)
            if len(self._public_seen) >= 1024:
                self._public_seen.clear()
            self._public_seen[path] = ok
        return ok

    def _host_ok(self, host: bytes | None) -> bool:
        if host is None:
            return False
        ok = self._hosts_seen.get(host)
        if ok is None:
            ok = host_name(host) in self.hosts  # type: ignore[operator]
            if len(self._hosts_seen) >= 256:
                self._hosts_seen.clear()
            self._hosts_seen[host] = ok
        return ok

    def _origin_ok(self, origin: bytes, host: bytes | None, scope: Scope) -> bool:
        text = origin.decode("latin-1").strip().lower()
        if text == "null":
            return False
        if text in self.origins:
            return True
        if host is None:
            return False
        own = host.decode("latin-1").strip().lower()
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return text == f"{scheme}://{own}"

    async def _admin_refusal(self, scope: Scope, send: Send, who: Any) -> None:
        if not self.auth.admin_enabled:
            await refuse(scope, send, 404, "ADMIN_DISABLED",
                         "admin endpoints are disabled: create an admin key (kasoku keys create --scope admin) "
                         "or set KASOKU_ADMIN_TOKEN")
        elif who is False or who is ANONYMOUS or who is None:
            if _browser_page(scope):  # the admin page in a browser: sign in, then come back
                await send({"type": "http.response.start", "status": 303,
                            "headers": [(b"location", b"/signin?next=" + scope["path"].encode()),
                                        (b"cache-control", b"no-store"), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            await refuse(scope, send, 401, "UNAUTHORIZED", "missing or wrong admin credentials",
                         headers={"WWW-Authenticate": "Bearer"})
        else:
            await refuse(scope, send, 403, "FORBIDDEN", "this key is not an admin key")

    async def _too_large(self, scope: Scope, send: Send) -> None:
        limit = self.limits.max_body_bytes
        await refuse(scope, send, 413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {limit} bytes", {"limit": limit})

    async def _buffer(self, receive: Receive) -> Receive | None:
        """Read a body sent without Content-Length, up to the limit; None past it."""
        limit = self.limits.max_body_bytes
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message])
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return _replay([{"type": "http.request", "body": b"".join(parts), "more_body": False}], receive)


def _browser_page(scope: Scope) -> bool:
    """A browser asking for the admin page itself (GET /admin, HTML accepted): the refusal is a
    redirect to the sign-in form; API clients and the JSON routes under /admin get the 401."""
    if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD") or scope.get("path") != "/admin":
        return False
    accept = next((v for k, v in scope.get("headers", ()) if k == b"accept"), b"")
    return b"text/html" in accept


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def _without_body(send: Send) -> Callable[[Message], Awaitable[None]]:
    """For HEAD: the GET's status and headers (Content-Length included), no body bytes."""
    done = False

    async def send_head(message: Message) -> None:
        nonlocal done
        if message["type"] == "http.response.body":
            if done:
                return
            done = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send(message)

    return send_head
