"""Write transactions on the lake: all or nothing, serialised by conflict, retried on a new snapshot.

Every write runs ``body(con)`` inside one DuckLake transaction on a connection of its own
(never a query-pool cursor). The transaction first bumps the single row of
``lake.kasoku_writes``: two writers that overlap in time both change that row, so DuckLake
(and, with a SQLite catalog, SQLite's own snapshot check; with PostgreSQL, its transactions and
the catalog's unique snapshot ids) lets only the first commit; the
second fails cleanly (nothing of it becomes visible), rolls back and runs ``body`` again on
the new snapshot — at most ``attempts`` times. This is what makes "read the lake, dedupe,
insert" safe with two ingests at once: whichever commits second re-reads the first's plays.

``body`` returns ``(value, changed)``; when nothing changed the transaction is rolled back
and no snapshot is made (a re-import changes no byte and no version).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import duckdb

from kasoku.errors import KasokuError
from kasoku.lake.ducklake import ALIAS, Lake
from kasoku.lake.extensions import quote

log = logging.getLogger(__name__)
T = TypeVar("T")

GUARD = f"{ALIAS}.kasoku_writes"
# What losing a commit race reads like. DuckLake's own check says "Transaction conflict" on either
# catalog; SQLite adds "database is locked"/"busy"; on PostgreSQL two commits that pick the same
# new snapshot id collide on the catalog's primary key ("duplicate key value violates unique
# constraint"), which DuckLake retries itself up to ducklake_max_retry_count ("Exceeded the maximum
# retry count") before it reaches us, and PostgreSQL may abort a transaction as a serialization
# failure or deadlock victim. A connection error is not among them: it is not retried.
_CONFLICT_HINTS = ("conflict", "database is locked", "busy", "another transaction", "snapshot",
                   "duplicate key value", "unique constraint", "could not serialize", "deadlock detected",
                   "maximum retry count")


class WriteConflict(KasokuError):
    """Concurrent writers kept committing first; this write gave up after its attempts (nothing written)."""

    status = 409
    code = "LAKE_WRITE_CONFLICT"


@dataclass
class Written(Generic[T]):
    value: T
    snapshot: int | None  # the snapshot this write made; None when nothing changed
    attempts: int  # 1 = committed on the first try


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[None]:
    """``table`` (Arrow) visible to ``con``'s SQL as ``name`` for the block, unregistered after it."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def is_conflict(exc: BaseException) -> bool:
    """A failure a retry on a newer snapshot can fix (lost the commit race), not a real error."""
    if not isinstance(exc, duckdb.Error):
        return False
    text = str(exc).lower()
    return any(h in text for h in _CONFLICT_HINTS)


def bump_guard(con: duckdb.DuckDBPyConnection) -> None:
    """Change the guard row (creating table and row on a new lake; racing creators are retried).

    One statement on an existing lake: every statement on a DuckLake pays a catalog round trip.
    """
    try:
        row = con.execute(f"UPDATE {GUARD} SET writes = writes + 1").fetchone()
    except duckdb.CatalogException:
        con.execute(f"CREATE TABLE {GUARD} (id INTEGER, writes BIGINT)")
        row = None
    if not row or row[0] == 0:
        con.execute(f"INSERT INTO {GUARD} VALUES (1, 1)")


def write(lake: Lake, body: Callable[[duckdb.DuckDBPyConnection], tuple[T, bool]], *, message: str,
          attempts: int = 8, after: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
          rng: random.Random | None = None) -> Written[T]:
    """Run ``body`` in one lake transaction; retry it on a commit conflict (see module doc).

    Each attempt runs on a new connection: after a failed commit the old one is closed, never
    reused (its catalog connection may still hold the failed transaction's state).
    ``after(con, snapshot)`` runs on the committing connection once the commit succeeded.
    """
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        conn = lake.connect()
        try:
            conn.execute("BEGIN")
            bump_guard(conn)
            value, changed = body(conn)
            if not changed:
                conn.execute("ROLLBACK")
                return Written(value, None, attempt)
            conn.execute(f"CALL ducklake_set_commit_message({quote(ALIAS)}, 'kasoku', {quote(message)})")
            conn.execute("COMMIT")
            row = conn.execute(f"SELECT * FROM ducklake_last_committed_snapshot({quote(ALIAS)})").fetchone()
            snapshot = int(row[0]) if row and row[0] is not None else None
            if after is not None and snapshot is not None:
                after(conn, snapshot)
            return Written(value, snapshot, attempt)
        except BaseException as exc:
            _rollback(conn)
            if not is_conflict(exc) or attempt == attempts:
                if is_conflict(exc):
                    raise WriteConflict(f"{message}: other writers committed first {attempts} times; "
                                        "nothing was written, run it again", details={"attempts": attempts}) from exc
                raise
            log.info("%s: lost a commit race (attempt %d): %s; retrying on the new snapshot",
                     message, attempt, str(exc).splitlines()[0])
        finally:
            conn.close()
        time.sleep(min(2.0, 0.05 * 2 ** attempt) * rng.uniform(0.5, 1.5))
    raise AssertionError("unreachable: the loop returns or raises")


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    try:
        conn.execute("ROLLBACK")
    except duckdb.Error:
        pass  # no transaction open (it failed at COMMIT) — nothing to undo
