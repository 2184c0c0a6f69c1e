"""What the lake held at a snapshot, as the listening source needs it: the snapshot id and the
months each table has rows in, computed once per (snapshot, table) per process.

A query first pins the current snapshot (one cheap catalog read), then reads every table
``AT (VERSION => snapshot)``: the answer, the months it was planned on and ``Result.version``
all describe the same data, even while an ingest commits beside it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from kasoku.domains.listening.tables import DAYS, HOURS, MONTH_OF, MONTHS, TRACKS_WINDOW, ARTISTS_WINDOW, ref
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import current_snapshot


# Roll-ups small enough to keep whole in memory per snapshot (rows ~ users x days, or x 300 per
# window month): a query on them then costs an Arrow scan, not a DuckLake metadata round trip
# to the catalog (which dominates for tables this small, see docs/rollups.md).
SMALL_TABLES = frozenset({MONTHS, DAYS, HOURS, TRACKS_WINDOW, ARTISTS_WINDOW})


class SnapshotCatalog:
    """Months per table at a snapshot, and the small roll-ups themselves, cached for the newest
    snapshot seen (older ones are dropped: a snapshot never changes, so nothing else invalidates)."""

    def __init__(self, pool: DuckDBPool, *, max_age: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        """``max_age``: how long a read of the current snapshot id is reused (a catalog read costs
        milliseconds of CPU on a SQLite catalog); well under the engine's poll interval."""
        self.pool = pool
        self.max_age = max_age
        self._clock = clock
        self._current: tuple[float, int] | None = None
        self._snapshot = -1
        self._months: dict[str, tuple[str, ...]] = {}
        self._rows: dict[str, bool] = {}
        self._tables: dict[str, pa.Table] = {}
        self._lock = asyncio.Lock()

    async def current(self) -> int:
        """The lake's current snapshot id (a catalog read through the pool, reused for ``max_age`` s)."""
        now = self._clock()
        if self._current is not None and now - self._current[0] < self.max_age:
            return self._current[1]
        snapshot = await self.pool.run(current_snapshot)
        if self._current is None or snapshot >= self._current[1]:
            self._current = (now, snapshot)
        return snapshot

    def observe(self, snapshot: int) -> None:
        """Someone read the current snapshot (the engine's version poll): use it from now on."""
        if self._current is None or snapshot > self._current[1]:
            self._current = (self._clock(), snapshot)

    def forget_current(self) -> None:
        """Read the current snapshot from the catalog on next use (e.g. right after an own write)."""
        self._current = None

    def _at(self, snapshot: int) -> None:
        if snapshot > self._snapshot:
            self._snapshot, self._months, self._rows, self._tables = snapshot, {}, {}, {}

    async def table(self, snapshot: int, table: str) -> pa.Table:
        """A whole (small) table at ``snapshot``, read once per snapshot."""
        if snapshot == self._snapshot and table in self._tables:
            return self._tables[table]
        sql = f"SELECT * FROM {ref(table, snapshot)}"
        data = await self.pool.run(lambda cur: cur.execute(sql).to_arrow_table())
        async with self._lock:
            self._at(snapshot)
            if snapshot == self._snapshot:
                self._tables[table] = data
        return data

    async def query(self, snapshot: int, table: str, sql: str, args: list[Any]) -> pa.Table:
        """``sql`` with ``{rel}`` standing for ``table`` at ``snapshot``: over the in-memory copy for
        SMALL_TABLES, else over the DuckLake table."""
        if table not in SMALL_TABLES:
            text = sql.replace("{rel}", ref(table, snapshot))
            return await self.pool.run(lambda cur: cur.execute(text, args).to_arrow_table())
        data = await self.table(snapshot, table)
        name = f"snap_{table}_{uuid.uuid4().hex[:12]}"

        def run(cur: Any) -> pa.Table:
            cur.register(name, data)
            try:
                return cur.execute(sql.replace("{rel}", name), args).to_arrow_table()
            finally:
                cur.unregister(name)

        return await self.pool.run(run)

    async def months(self, snapshot: int, table: str) -> tuple[str, ...]:
        """Sorted 'YYYY-MM' months in which ``table`` has rows at ``snapshot``."""
        if snapshot == self._snapshot and table in self._months:
            return self._months[table]
        sql = f"SELECT DISTINCT {MONTH_OF[table]} AS m FROM {ref(table, snapshot)} ORDER BY m"
        months = tuple(r[0] for r in await self.pool.run(lambda cur: cur.execute(sql).fetchall()))
        async with self._lock:
            self._at(snapshot)
            if snapshot == self._snapshot:
                self._months[table] = months
        return months

    async def has_rows(self, snapshot: int, table: str) -> bool:
        if snapshot == self._snapshot and table in self._rows:
            return self._rows[table]
        sql = f"SELECT EXISTS (SELECT 1 FROM {ref(table, snapshot)})"
        row = await self.pool.run(lambda cur: cur.execute(sql).fetchone())
        found = bool(row and row[0])
        async with self._lock:
            self._at(snapshot)
            if snapshot == self._snapshot:
                self._rows[table] = found
        return found
