"""In-process single-flight: N concurrent callers of one key share one run.

The run is a task of its own, so a caller that gives up (client disconnected) does not
cancel the work the others wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import logging
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}
        self.coalesced = 0  # callers that waited on someone else's run

    def tasks(self) -> list[asyncio.Task[T]]:
        """Runs in flight (the engine cancels them at shutdown)."""
        return list(self._running.values())

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``fn`` once per key at a time; returns (value, True if this caller ran it)."""
        task = self._running.get(key)
        leader = task is None
        if task is None:
            task = asyncio.ensure_future(fn())
            self._running[key] = task
            task.add_done_callback(lambda _t: self._running.pop(key, None))
        else:
            self.coalesced += 1
        return await asyncio.shield(task), leader

    def start(self, key: str, fn: Callable[[], Awaitable[T]]) -> asyncio.Task[T] | None:
        """Start a background run unless one is already going (stale-while-revalidate)."""
        if key in self._running:
            return None
        task = asyncio.ensure_future(fn())
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))
        task.add_done_callback(_log_failure)
        return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    """Nobody awaits a background refresh: log its failure (the stale entry keeps being served)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("background refresh failed: %r", task.exception())
