"""Per-caller limits: a request rate (the ``limits`` package) and concurrent streams/jobs.

Counters are per worker process and in memory: they protect this process's event loop,
DuckDB workers and memory, which is what a flood exhausts. (A limit shared by every worker
would need Redis on every request, and the hit path costs a few microseconds.)

A caller is its API key's name, or its client address when no key is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from limits import RateLimitItem, parse_many

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from kasoku.api.auth import SCOPE_KEY, Principal
from kasoku.errors import KasokuError


class TooManyRequests(KasokuError):
    """The caller went past a limit (429, Retry-After)."""

    status = 429
    code = "RATE_LIMITED"


class ServerBusy(KasokuError):
    """The server as a whole is at a limit (503, Retry-After)."""

    status = 503
    code = "SERVER_BUSY"


def caller_of(scope: Scope) -> str:
    """Whom a limit counts: the API key (or admin token) by name, else the client address."""
    principal = scope.get(SCOPE_KEY)
    if isinstance(principal, Principal) and principal.limit_id:
        return principal.limit_id
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:?"


class RateLimiter:
    """Token buckets per caller, one per window of a ``limits`` spec (``100/second;2000/minute``).

    The spec is parsed by the ``limits`` package (its grammar, its validation); the counting is
    a token bucket here: capacity = the window's amount, refilled continuously at amount/window.
    limits' own in-memory storage takes a lock and may start a timer thread per hit — measured
    at several times the cost of a whole cache hit — while a bucket is two floats and a sum.
    Like limits' memory storage, counts are per process and confined to the event loop thread.
    """

    MAX_CALLERS = 100_000

    def __init__(self, spec: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self.windows = [(float(item.amount), item.amount / item.get_expiry()) for item in items]
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.windows)

    def hit(self, caller: str) -> float | None:
        """Take one token from each of the caller's buckets; None when allowed, else the whole
        seconds until a token is back (Retry-After)."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is not None and len(bucket) == 2:  # one window (the usual spec): the short way
            capacity, rate = self.windows[0]
            tokens = bucket[1] + (now - bucket[0]) * rate
            if tokens > capacity:
                tokens = capacity
            bucket[0] = now
            if tokens >= 1.0:
                bucket[1] = tokens - 1.0
                return None
            bucket[1] = tokens
            return float(max(1, math.ceil((1.0 - tokens) / rate)))
        if bucket is None:
            if len(self._buckets) >= self.MAX_CALLERS:
                self._buckets.clear()  # a flood of addresses: forget them all rather than grow
            bucket = self._buckets[caller] = [now, *(capacity for capacity, _ in self.windows)]
        elapsed = now - bucket[0]
        bucket[0] = now
        wait = 0.0
        for i, (capacity, rate) in enumerate(self.windows, start=1):
            tokens = min(capacity, bucket[i] + elapsed * rate)
            bucket[i] = tokens
            if tokens < 1.0:
                wait = max(wait, (1.0 - tokens) / rate)
        if wait > 0.0:
            return float(max(1, math.ceil(wait)))
        for i in range(1, len(bucket)):
            bucket[i] -= 1.0
        return None


class Slots:
    """At most ``per_caller`` at once for one caller and ``total`` in all (streams, jobs)."""

    def __init__(self, what: str, per_caller: int, total: int | None = None) -> None:
        self.what = what
        self.per_caller = per_caller
        self.total = total
        self.running: Counter[str] = Counter()

    @property
    def in_use(self) -> int:
        return sum(self.running.values())

    def take(self, caller: str) -> None:
        """Take a slot or raise 429 (this caller) / 503 (the server)."""
        if self.running[caller] >= self.per_caller:
            raise TooManyRequests(f"at most {self.per_caller} {self.what} at once per key; wait for one to end",
                                  details={"limit": self.per_caller}, headers={"Retry-After": "1"})
        if self.total is not None and self.in_use >= self.total:
            raise ServerBusy(f"the server runs {self.total} {self.what} at once; retry shortly",
                             details={"limit": self.total}, headers={"Retry-After": "1"})
        self.running[caller] += 1

    def give(self, caller: str) -> None:
        self.running[caller] -= 1
        if self.running[caller] <= 0:
            del self.running[caller]

    @contextlib.asynccontextmanager
    async def hold(self, caller: str) -> AsyncIterator[None]:
        self.take(caller)
        try:
            yield
        finally:
            self.give(caller)


class _HeldStream(StreamingResponse):
    """A streaming response that gives its slot back however it ends (done, failed, client
    gone), and whose every write must complete within ``query_timeout``: a client that stops
    reading gets its connection closed instead of holding the slot forever."""

    slot: tuple[Slots, str]
    send_timeout: float

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timeout = self.send_timeout

        async def bounded(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), timeout)
            except TimeoutError:
                raise OSError(f"stream reader took nothing for {timeout:g} s") from None

        try:
            await super().__call__(scope, receive, bounded)
        except OSError:
            pass  # the reader stalled: the server closes the connection, nothing to answer
        finally:
            slots, caller = self.slot
            slots.give(caller)


async def stream_slot(request: Request, respond: Callable[[], Awaitable[StreamingResponse]]) -> StreamingResponse:
    """Run ``respond`` holding one of the app's stream slots (per caller and in all) until the
    stream it returns has ended; 429 / 503 when none is free."""
    slots: Slots = request.app.state.streams
    caller = caller_of(request.scope)
    slots.take(caller)
    try:
        response = await respond()
    except BaseException:
        slots.give(caller)
        raise
    response.__class__ = _HeldStream
    response.slot = (slots, caller)  # type: ignore[attr-defined]
    response.send_timeout = request.app.state.settings.query_timeout  # type: ignore[attr-defined]
    return response
