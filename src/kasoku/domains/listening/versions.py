"""The listening dataset's data version: the DuckLake snapshot id, and what changed between two.

``ListeningVersions(lake)`` fits the engine's ``VersionSource`` protocol (engine/versions.py):

- ``current()``: the catalog's current snapshot id — one small catalog read, cheap to poll.
- ``changes(since)``: ``(current, tags)`` where tags name the cached answers that may differ
  since snapshot ``since``, derived from DuckLake's own snapshot log: which tables each
  snapshot touched (``ducklake_snapshots().changes``), and for ``plays`` which months its
  inserted and deleted rows fall in (``ducklake_table_changes``). Answers carry
  ``month:YYYY-MM`` tags for closed ranges and the open-range tag otherwise (source.py).

  - plays changed in months M → ``{month:m for m in M} | {open-range}``;
  - artists changed (genres of every month), a roll-up changed without plays (a rebuild), a
    table created/dropped/altered, or ``since`` expired by vacuum → ``None`` (everything);
  - only episodes or bookkeeping changed → no tag (no tool reads them).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import duckdb

from kasoku.domains.listening.rollup_build import ALL_TABLES
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import OPEN_RANGE_TAG
from kasoku.domains.listening.tables import ARTISTS, COLLECTOR_GAPS, EPISODES, MONTH_OF, PLAYS
from kasoku.domains.listening.tables import TABLES as LISTENING_TABLES
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import ALIAS, ROW_CHANGES, Lake, current_snapshot
from kasoku.lake.ducklake import changes_since as lake_changes_since
from kasoku.lake.extensions import quote
from kasoku.lake.transaction import GUARD

_L = quote(ALIAS)
_QUIET = {EPISODES, COLLECTOR_GAPS, GUARD.split(".", 1)[1]}  # no tool reads these
_OURS = {*LISTENING_TABLES, GUARD.split(".", 1)[1]}


def changes_since(con: duckdb.DuckDBPyConnection, since: int) -> tuple[int, frozenset[str] | None]:
    """:meth:`ListeningVersions.changes` on a connection of its own (see the module doc)."""
    current, log = lake_changes_since(con, since)
    if log is None:
        return current, None  # the log no longer reaches back to `since` (vacuumed)
    touched: set[str] = set()
    for change in log:
        # Another domain's tables (the racing lake's) are known by id and not ours: no
        # listening answer reads them. Anything unknown counts as ours (conservative).
        named = {name for name, known in change.tables if not known or name in _OURS}
        if change.tables and not named:
            continue
        if change.kind not in ROW_CHANGES:
            return current, None  # schema changes: tables created, dropped, altered
        touched |= named
    touched -= _QUIET
    if not touched:
        return current, frozenset()
    if ARTISTS in touched or not touched <= {PLAYS, *ALL_TABLES} or PLAYS not in touched:
        return current, None
    months = con.execute(f"""SELECT DISTINCT {MONTH_OF[PLAYS]} FROM ducklake_table_changes({_L}, 'main', {quote(PLAYS)}, ?, ?)
                             WHERE played_at IS NOT NULL""", [since + 1, current]).fetchall()
    return current, frozenset({f"month:{m}" for (m,) in months} | {OPEN_RANGE_TAG})


class ListeningVersions:
    """The engine's ``VersionSource`` for the listening dataset (see the module doc).

    Reads through ``pool`` when given (the server's query pool, already attached); otherwise
    attaches the lake read-only once, on first use, in a connection of its own.
    """

    def __init__(self, lake: Lake, pool: DuckDBPool | None = None, *, catalog: SnapshotCatalog | None = None) -> None:
        """``catalog``: the source's snapshot memo; every version read here moves it forward, so the
        source never pins a snapshot older than one the engine already knows of."""
        self.lake = lake
        self.pool = pool
        self.catalog = catalog
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _run(self, fn: Any) -> Any:
        with self._lock:
            if self._con is None:
                self._con = self.lake.connect(read_only=True)
            return fn(self._con.cursor())

    async def _call(self, fn: Any) -> Any:
        if self.pool is not None:
            return await self.pool.run(fn)
        return await asyncio.to_thread(self._run, fn)

    async def current(self) -> int:
        snapshot = int(await self._call(current_snapshot))
        if self.catalog is not None:
            self.catalog.observe(snapshot)
        return snapshot

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        current, tags = await self._call(lambda cur: changes_since(cur, since))
        if self.catalog is not None:
            self.catalog.observe(current)
        return current, tags

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
