"""What the lake held at a snapshot, as the listening source needs it: the snapshot id and the
months each table has rows in, computed once per (snapshot, table) per process.

A query first pins the current snapshot (one cheap catalog read), then reads every table
``AT (VERSION => snapshot)``: the answer, the months it was planned on and ``Result.version``
all describe the same data, even while an ingest commits beside it.
"""

from __future__ import annotations

import asyncio

from kasoku.domains.listening.tables import MONTH_OF, ref
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import current_snapshot


class SnapshotCatalog:
    """Months per table at a snapshot, cached for the newest snapshot seen (older ones are dropped)."""

    def __init__(self, pool: DuckDBPool) -> None:
        self.pool = pool
        self._snapshot = -1
        self._months: dict[str, tuple[str, ...]] = {}
        self._rows: dict[str, bool] = {}
        self._lock = asyncio.Lock()

    async def current(self) -> int:
        """The lake's current snapshot id (a catalog read through the pool)."""
        return await self.pool.run(current_snapshot)

    def _at(self, snapshot: int) -> None:
        if snapshot > self._snapshot:
            self._snapshot, self._months, self._rows = snapshot, {}, {}

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
