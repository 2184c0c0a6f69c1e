"""Bounds on one HTTP connection before any request reaches the application.

Two things uvicorn (0.55) does not bound, whichever parser it runs:

* **time to a request head** — uvicorn arms its keep-alive timer only *after* a response,
  and any byte received cancels it. A connection that sends nothing, or a head one byte every
  few seconds (slowloris), is held forever; and every held connection counts against
  ``limit_concurrency``, so enough of them make every real request a 503. Here each
  connection must deliver a complete request head within ``header_timeout`` seconds of being
  opened (and of its previous response ending); otherwise it is closed — with a 408 when part
  of a head had arrived, silently when nothing had.
* **time to a whole request body** — a complete head then a body trickled in (or never sent)
  holds the connection and the handler awaiting it. Once a head is complete, its body must be
  complete within ``body_timeout`` seconds; otherwise the connection gets a 408 and is closed
  (the handler sees a disconnect). Checked by the same timer, at its granularity
  (``header_timeout``).
* **header bytes with the httptools parser** (uvicorn's default when httptools is installed,
  and what kasoku runs: see docs/security.md for the measured choice) — only the h11 parser
  honours ``h11_max_incomplete_event_size``; httptools buffers a 100 MB header. Here the bytes
  fed to the parser while a request head is incomplete are counted, and past
  ``max_header_bytes`` the connection gets a 431 (the JSON error envelope) and is closed,
  so a head holds at most the limit plus one read (≤ 256 KiB) in memory.

The guard (api/guard.py) checks the same header limit again on the parsed headers, for
servers run some other way; it cannot help here, since by then the headers are in memory.

Why a protocol subclass and not ASGI middleware: both problems happen before a request
exists — there is no scope for middleware to see until the head is complete. uvicorn takes
any protocol factory as ``http=``; :func:`protocol` gives a picklable ``functools.partial``
(``--workers`` processes receive the config pickled).

What it costs the hit path: nothing, or less than uvicorn's own protocol. uvicorn arms its
keep-alive timer after every response (a timer handle made and, on the next request,
cancelled: ~1 µs a request, measured); the httptools protocol here does not — its one timer
per connection also closes an idle keep-alive connection after ``timeout_keep_alive``, as
uvicorn's would. And its four per-request hooks are uvicorn's own methods with the bounds
added in line (no extra Python frame per hook): ``tests/unit/test_connection.py`` holds the
digests of the uvicorn methods they were taken from, so an upgrade that changes one fails
there until the copy is checked.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # uvicorn[standard] installs httptools

_TIMEOUT_BODY = orjson.dumps({"error": {"code": "REQUEST_TIMEOUT", "message": "no complete request head in time",
                                        "details": {}}})
_SLOW_BODY = orjson.dumps({"error": {"code": "REQUEST_TIMEOUT", "message": "the request body did not arrive in time",
                                     "details": {}}})


def _raw_response(status: int, reason: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("latin-1") + body


class _HeadDeadline:
    """The header timeout, for either uvicorn protocol (a mixin: it only uses what both have —
    ``transport``, ``cycle``, ``loop``, ``connection_made``/``connection_lost``,
    ``on_response_complete``; subclasses set ``_head_started`` in ``data_received``).

    The deadline runs from the connection's start and again from the end of each response.
    The hit path pays a clock read and a float store per response for it: the timer is not
    re-armed each time (a timer handle per request cost ~1–2 µs, measured); instead, when it
    fires before the deadline (a later response moved it), it re-arms itself for the new one.
    With httptools the same timer closes a keep-alive connection that stays idle (not a byte of
    a next head) for ``timeout_keep_alive`` after a response, as uvicorn's own timer would. When it fires at
    the deadline it closes the connection only if no request is being answered (a head that
    came in time started a cycle; a slow query is not a slow client) and the connection is
    still ours (a WebSocket upgrade hands the transport to another protocol).
    """

    header_timeout: float
    body_timeout: float = 60.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    _head_due = 0.0  # loop time by which the awaited head must be complete
    _idle_due = float("inf")  # loop time by which a byte of the next head must arrive (keep-alive)
    _head_timer: asyncio.TimerHandle | None = None
    _timer_at = 0.0  # when _head_timer fires
    _head_started = False  # a byte of the awaited head has arrived
    _body_due = 0.0  # loop time by which the current request's body must be complete

    def _head_check(self) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            self._head_timer = None
            return
        now = self.loop.time()
        due = self._head_due if self._head_started else min(self._head_due, self._idle_due)
        if now < due:  # a response ended since: the deadline moved
            self._arm(due)
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.more_body and not cycle.response_started and now >= self._body_due:
                # the head came in time, its body has not: a trickled or missing body
                self._head_timer = None
                transport.write(_raw_response(408, "Request Timeout", _SLOW_BODY))
                transport.close()
                return
            # a request is being answered (its head came in time): look again later; its
            # response's end moves the deadline past this
            self._arm(now + min(self.header_timeout, self.body_timeout))
            return
        self._head_timer = None
        if self._head_started:
            transport.write(_raw_response(408, "Request Timeout", _TIMEOUT_BODY))
        transport.close()

    def _arm(self, when: float) -> None:
        self._timer_at = when
        self._head_timer = self.loop.call_at(when, self._head_check)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._head_due = self.loop.time() + self.header_timeout
        self._arm(self._head_due)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._head_due = self.loop.time() + self.header_timeout
        self._head_started = False


class BoundedHttpTools(_HeadDeadline, HttpToolsProtocol):
    """httptools with the header timeout and a bound on header bytes (see the module docstring).

    ``data_received``, ``on_message_complete`` and ``on_response_complete`` are uvicorn's own
    (0.55), with the bounds written in; ``on_response_complete`` arms no keep-alive timer (the
    connection's one timer closes an idle connection after ``timeout_keep_alive``)."""

    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, body_timeout: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_header_bytes = max_header_bytes
        self._in_head = True  # the parser is inside a request head (or awaits the next one)
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._body_due = self.loop.time() + self.body_timeout
        HttpToolsProtocol.on_headers_complete(self)  # not super(): one lookup less per request

    def on_message_complete(self) -> None:
        self._in_head = True  # what comes next on this connection is the next request's head
        # uvicorn's:
        if (self.parser.should_upgrade() and self._should_upgrade()) or self.cycle.response_complete:
            return
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def data_received(self, data: bytes) -> None:
        self._head_started = True
        # Counted before feeding: a read that completes the head may carry body bytes too, and
        # is never refused (the head is complete). A read that ends one message and begins the
        # next head (pipelining) is not counted — the bound is off by at most one read.
        in_head = self._in_head
        if in_head:
            self._head_bytes += len(data)
        # uvicorn's (its keep-alive timer is never armed here: nothing to cancel):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if in_head and self._in_head and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse_head()

    def on_response_complete(self) -> None:
        # uvicorn's, without its keep-alive timer:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        # the deadlines of the next head: its first byte (keep-alive) and all of it
        now = self.loop.time()
        self._head_due = now + self.header_timeout
        self._head_started = False
        idle_due = self._idle_due = now + self.timeout_keep_alive
        if idle_due < self._timer_at and self._head_timer is not None:  # the timer would come too late
            self._head_timer.cancel()
            self._arm(idle_due)

    def _refuse_head(self) -> None:
        body = orjson.dumps({"error": {"code": "HEADERS_TOO_LARGE",
                                       "message": f"request headers exceed {self.max_header_bytes} bytes",
                                       "details": {"limit": self.max_header_bytes}}})
        self.transport.write(_raw_response(431, "Request Header Fields Too Large", body))
        self.transport.close()
        self.headers = []  # drop what the parser had collected; the connection is done


class BoundedH11(_HeadDeadline, H11Protocol):
    """h11 with the header timeout (h11 bounds header bytes itself: ``h11_max_incomplete_event_size``)."""

    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, body_timeout: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout

    def data_received(self, data: bytes) -> None:
        self._head_started = True
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # h11 parsed a new head in this read: its body's clock starts
            self._body_due = self.loop.time() + self.body_timeout


def protocol(parser: str = "httptools", *, header_timeout: float, max_header_bytes: int,
             body_timeout: float = 60.0) -> functools.partial[Any]:
    """uvicorn's ``http=`` for ``parser`` (``httptools`` or ``h11``) with the bounds."""
    cls = {"httptools": BoundedHttpTools, "h11": BoundedH11}[parser]
    return functools.partial(cls, header_timeout=header_timeout, max_header_bytes=max_header_bytes,
                             body_timeout=body_timeout)
