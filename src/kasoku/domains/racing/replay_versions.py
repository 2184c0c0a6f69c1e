"""The data version of the JV-Link replay from the lake: the lake's snapshot, and the dataspecs it added records to.

With the lake client, a replay answer (``racing.<DATASPEC>``) is as fresh as the lake: the engine
follows every dataspec's dataset with one :class:`ReplayVersions` (``engine.follow``), so an
import drops exactly the dataspecs it added raw records to (tag ``racing:<DATASPEC>``) within one
``version_poll_interval``, on every worker, with no notify — instead of waiting for the
dataspec's TTL. ``jvdata_raw`` is append-only (``seq`` grows with every import), so "what an
import added" is the rows whose ``seq`` is above the largest one at ``since``.

One instance serves all ~40 datasets: their polls come together, so the current snapshot and the
answer to ``changes(since)`` are computed once and shared for a moment (``share_for`` seconds).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb

from kasoku.domains.racing.lake_tables import RAW_TABLE
from kasoku.lake.ducklake import ALIAS, Lake, current_snapshot

__all__ = ["ReplayVersions", "raw_changes_since"]

TAG = "racing:"


def raw_changes_since(con: duckdb.DuckDBPyConnection, since: int) -> tuple[int, frozenset[str] | None]:
    """(current snapshot, ``racing:<DATASPEC>`` of every dataspec given raw records after ``since``;
    None = everything: the raw table appeared since, or ``since`` is no longer in the lake's history)."""
    current = current_snapshot(con)
    if since >= current:
        return current, frozenset()
    raw = f"{ALIAS}.{RAW_TABLE}"
    try:
        con.execute(f"SELECT 1 FROM {raw} AT (VERSION => {current}) LIMIT 0")
    except duckdb.CatalogException:
        return current, frozenset()  # no racing records in this lake: nothing of the replay changed
    try:
        rows = con.execute(f"""
            SELECT DISTINCT dataspec FROM {raw} AT (VERSION => {current})
            WHERE seq > (SELECT coalesce(max(seq), 0) FROM {raw} AT (VERSION => {int(since)}))""").fetchall()
    except duckdb.Error:  # created after since, or since vacuumed away
        return current, None
    return current, frozenset(f"{TAG}{spec}" for (spec,) in rows)


class ReplayVersions:
    """The engine's ``VersionSource`` for every ``racing.<DATASPEC>`` dataset of a lake-backed replay."""

    def __init__(self, lake: Lake, *, share_for: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.lake = lake
        self.share_for = share_for
        self._clock = clock
        self._con: duckdb.DuckDBPyConnection | None = None
        self._thread_lock = threading.Lock()
        self._lock = asyncio.Lock()
        self._current: tuple[float, int] | None = None
        self._changes: dict[int, tuple[float, tuple[int, frozenset[str] | None]]] = {}
        self.queries = 0  # how many times the lake was asked (the sharing's effect, for tests)

    async def _call(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        def run() -> Any:
            with self._thread_lock:
                if self._con is None:
                    self._con = self.lake.connect(read_only=True)
                self.queries += 1
                cur = self._con.cursor()
                try:
                    return fn(cur)
                finally:
                    cur.close()
        return await asyncio.to_thread(run)

    async def current(self) -> int:
        async with self._lock:
            now = self._clock()
            if self._current is not None and now - self._current[0] < self.share_for:
                return self._current[1]
            version = int(await self._call(current_snapshot))
            self._current = (now, version)
            return version

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        async with self._lock:
            now = self._clock()
            known = self._changes.get(since)
            if known is not None and now - known[0] < self.share_for:
                return known[1]
            result: tuple[int, frozenset[str] | None] = await self._call(lambda cur: raw_changes_since(cur, since))
            self._changes = {s: v for s, v in self._changes.items() if now - v[0] < self.share_for}
            self._changes[since] = (now, result)
            self._current = (now, result[0])
            return result

    def close(self) -> None:
        with self._thread_lock:
            if self._con is not None:
                self._con.close()
                self._con = None
