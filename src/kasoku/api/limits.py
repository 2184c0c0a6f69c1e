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
    at several times the cost of a whole cache hit.

    Each bucket is kept in its GCRA form (the generic cell rate algorithm — the same bucket,
    exactly): one float per caller and window, the *theoretical arrival time* ``tat``. A bucket
    of capacity C refilled every T = window/amount seconds holds ``C - (max(tat, now) - now) / T``
    tokens, so a hit is allowed when ``max(tat, now) - now <= (C - 1) * T`` and then moves
    ``tat`` on by T; a refused hit changes nothing; the wait for a token is the excess. A hit is
    a clock read, a dict lookup and three float operations (the hit path pays it per request).
    Like limits' memory storage, counts are per process and confined to the event loop thread.
    """

    MAX_CALLERS = 100_000

    def __init__(self, spec: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        # (seconds per token T, tolerance (C - 1) * T) per window
        self.windows = [(item.get_expiry() / item.amount, (item.amount - 1) * item.get_expiry() / item.amount)
                        for item in items]
        self._clock = clock
        self._tat: dict[str, float] = {}  # one window (the usual spec): caller -> tat
        self._tats: dict[str, list[float]] = {}  # several windows: caller -> tat per window
        self._one = self.windows[0] if len(self.windows) == 1 else None

    @property
    def enabled(self) -> bool:
        return bool(self.windows)

    def hit(self, caller: str) -> float | None:
        """Take one token from each of the caller's buckets; None when allowed, else the whole
        seconds until a token is back (Retry-After)."""
        now = self._clock()
        one = self._one
        if one is not None:
            tat = self._tat.get(caller, now)
            if tat < now:
                tat = now
            excess = tat - now - one[1]
            if excess <= 0.0:
                if len(self._tat) >= self.MAX_CALLERS and caller not in self._tat:
                    self._tat.clear()  # a flood of addresses: forget them all rather than grow
                self._tat[caller] = tat + one[0]
                return None
            return float(max(1, math.ceil(excess)))
        tats = self._tats.get(caller)
        if tats is None:
            if len(self._tats) >= self.MAX_CALLERS:
                self._tats.clear()
            tats = self._tats[caller] = [now] * len(self.windows)
        wait = 0.0
        for i, (_interval, tolerance) in enumerate(self.windows):
            excess = max(tats[i], now) - now - tolerance
            if excess > wait:
                wait = excess
        if wait > 0.0:
            return float(max(1, math.ceil(wait)))
        for i, (interval, _tolerance) in enumerate(self.windows):
            tats[i] = max(tats[i], now) + interval
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
