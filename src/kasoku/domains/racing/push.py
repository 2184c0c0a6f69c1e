"""Real-time push of odds over WebSocket (the original racing service's planned later phase).

``WS /api/v1/realtime/ws/odds/{race_id}?type=win&interval=1.0`` sends the race's odds as the GET
``/api/v1/realtime/odds/{race_id}`` would answer them, then again each time they change.

Why it is built like this:

* **Through the engine.** A poll is ``engine.get(query)`` on the very Query the GET builds, so
  it is an L1 hit until the odds' TTL (1 min) runs out, coalesced with every GET and every
  other poll, and the upstream is asked no more often than without WebSockets.
* **One poller per (race, bet type)**, however many sockets watch it: N watchers cost one
  ``engine.get`` per interval, and each change is serialised once and fanned out as the same
  text frame. The poller runs at the smallest interval its watchers asked for (never below
  :data:`MIN_INTERVAL`) and stops when the last watcher leaves.
* **Push on change only**: a change is a new ETag of the JSON body (blake2b of the bytes), and
  each watcher remembers the last ETag it was sent, so no socket ever gets the same odds twice.
* **The poller also delivers the first snapshot**: a new watcher wakes it for an immediate poll.
  One producer per race keeps every socket's messages in order (a snapshot can never arrive
  after a newer update).
* **A slow socket never holds the others back**: each has a small queue; when it is full the
  oldest message is dropped — only the latest odds matter.

Messages are JSON text frames: ``{"type": "odds", "race_id", "odds_type", "etag", "data"}``
where ``data`` is the GET's JSON body (embedded as-is, not re-serialised), or
``{"type": "error", "race_id", "odds_type", "error": {code, message, details}}`` when the
upstream fails (sent once per distinct error; polling goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from kasoku.api.respond import answer
from kasoku.engine.engine import Engine
from kasoku.engine.types import Query
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5
MAX_INTERVAL = 60.0
DEFAULT_INTERVAL = 1.0
QUEUE_SIZE = 4
POLICY_VIOLATION, TRY_AGAIN_LATER = 1008, 1013


def parse_interval(raw: str | None, minimum: float = MIN_INTERVAL) -> float:
    """Seconds between polls: a number, clamped to [minimum, MAX_INTERVAL]. Raises ValueError."""
    if raw is None:
        return max(minimum, DEFAULT_INTERVAL)
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"interval must be a finite number of seconds, not {raw!r}")
    return min(MAX_INTERVAL, max(minimum, value))


def close_reason(message: str) -> str:
    """A close frame's reason is at most 123 bytes of UTF-8."""
    encoded = message.encode("utf-8")
    return message if len(encoded) <= 123 else encoded[:120].decode("utf-8", "ignore") + "..."


@dataclass(eq=False)
class Watcher:
    """One socket: its queue of frames, the interval it asked for, the last ETag it was sent."""

    interval: float
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    last_etag: str | None = None

    def offer(self, etag: str, frame: str) -> None:
        if etag == self.last_etag:
            return
        self.last_etag = etag
        if self.queue.full():
            self.queue.get_nowait()  # a slow reader loses the older odds, never the newest
        self.queue.put_nowait(frame)


class Poller:
    """Polls one (race, bet type) through the engine and fans changes out to its watchers."""

    def __init__(self, hub: "OddsHub", race_id: str, odds_type: str, query: Query) -> None:
        self.hub, self.race_id, self.odds_type, self.query = hub, race_id, odds_type, query
        self.watchers: set[Watcher] = set()
        self.polls = 0
        self.pushed = 0
        self.etag: str | None = None
        self.frame = ""
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return min((w.interval for w in self.watchers), default=DEFAULT_INTERVAL)

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        self._wake.set()  # poll now: the new watcher's first snapshot
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"odds-poller {self.race_id} {self.odds_type}")

    async def _run(self) -> None:
        while self.watchers:
            self._wake.clear()
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)

    async def poll(self) -> None:
        self.polls += 1
        try:
            found = await answer(self.hub.engine, self.query, "json", "identity",
                                 min_compress=self.hub.compress_min_bytes)
        except KasokuError as exc:
            log.warning("odds poll %s %s failed: %s", self.race_id, self.odds_type, exc.message)
            frame = orjson.dumps({"type": "error", "race_id": self.race_id, "odds_type": self.odds_type,
                                  "error": exc.to_dict()}).decode()
            self._fan_out(f"error:{exc.code}:{exc.message}", frame)
            return
        except Exception:  # a bug must not kill the poller; the watchers keep their last odds
            log.exception("odds poll %s %s failed", self.race_id, self.odds_type)
            return
        body = found.body
        if body.etag != self.etag:
            self.etag = body.etag
            self.frame = orjson.dumps({"type": "odds", "race_id": self.race_id, "odds_type": self.odds_type,
                                       "etag": body.etag, "data": orjson.Fragment(body.content)}).decode()
        self._fan_out(self.etag, self.frame)

    def _fan_out(self, etag: str, frame: str) -> None:
        for watcher in list(self.watchers):
            if watcher.last_etag != etag:
                self.pushed += 1
            watcher.offer(etag, frame)


class OddsHub:
    """The pollers of one server, keyed by (race id, bet type)."""

    def __init__(self, engine: Engine, *, min_interval: float = MIN_INTERVAL, compress_min_bytes: int = 1024) -> None:
        self.engine = engine
        self.min_interval = min_interval
        self.compress_min_bytes = compress_min_bytes
        self.pollers: dict[tuple[str, str], Poller] = {}

    def watch(self, race_id: str, odds_type: str, query: Query, interval: float) -> Watcher:
        watcher = Watcher(interval=interval)
        key = (race_id, odds_type)
        poller = self.pollers.get(key)
        if poller is None:
            poller = self.pollers[key] = Poller(self, race_id, odds_type, query)
        poller.add(watcher)
        return watcher

    def leave(self, race_id: str, odds_type: str, watcher: Watcher) -> None:
        key = (race_id, odds_type)
        poller = self.pollers.get(key)
        if poller is None:
            return
        poller.watchers.discard(watcher)
        if not poller.watchers:
            del self.pollers[key]
            if poller.task is not None:
                poller.task.cancel()

    async def serve(self, websocket: WebSocket, race_id: str, odds_type: str, query: Query, interval: float) -> None:
        """Run one accepted socket until the client leaves (or the server stops)."""
        watcher = self.watch(race_id, odds_type, query, interval)
        sender = asyncio.create_task(_send(websocket, watcher))
        receiver = asyncio.create_task(_drain(websocket))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.leave(race_id, odds_type, watcher)
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                    await task

    def stats(self) -> dict[str, Any]:
        return {"pollers": len(self.pollers), "watchers": sum(len(p.watchers) for p in self.pollers.values())}

    async def close(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        for poller in pollers:
            if poller.task is not None:
                poller.task.cancel()
        for poller in pollers:
            if poller.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await poller.task


async def _send(websocket: WebSocket, watcher: Watcher) -> None:
    while True:
        frame = await watcher.queue.get()
        await websocket.send_text(frame)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed at once."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
