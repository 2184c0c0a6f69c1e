"""A test-only domain whose data *and* data version live in one SQLite file that several
server processes share: prices by month, a version counter, and the months each version
changed. ``--factory tests.e2e.cache.ledger:create``; the file is ``LEDGER_DB``.

Injected delays (per process, from the environment), to make the races of issue 10 happen:
``LEDGER_SLOW_VERSION`` seconds added to every version read, and ``LEDGER_SLOW_SOURCE``
seconds a query of ``LEDGER_SLOW_MONTH`` takes *after* reading its snapshot.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, Request
from starlette.responses import Response

from kasoku.api.app import create_app
from kasoku.api.respond import serve_query
from kasoku.config import Settings
from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query, Result

DATASET = "ledger"


class Ledger:
    """The shared file. Every method is one transaction, so a read is one consistent snapshot."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def init(self, months: list[str]) -> None:
        with closing(self._connect()) as con:
            con.executescript("""
                CREATE TABLE version (v INTEGER NOT NULL);
                INSERT INTO version VALUES (1);
                CREATE TABLE prices (month TEXT PRIMARY KEY, price INTEGER NOT NULL);
                CREATE TABLE changes (version INTEGER NOT NULL, tag TEXT NOT NULL);
            """)
            con.executemany("INSERT INTO prices VALUES (?, 1)", [(m,) for m in months])

    def change(self, months: list[str]) -> int:
        """A new version in which ``months`` have price = that version."""
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            version = con.execute("UPDATE version SET v = v + 1 RETURNING v").fetchone()[0]
            con.executemany("INSERT OR REPLACE INTO prices VALUES (?, ?)", [(m, version) for m in months])
            con.executemany("INSERT INTO changes VALUES (?, ?)", [(version, f"month:{m}") for m in months])
            con.execute("COMMIT")
            return int(version)

    def read(self, month: str) -> tuple[int, int | None]:
        with closing(self._connect()) as con:
            con.execute("BEGIN")
            version = con.execute("SELECT v FROM version").fetchone()[0]
            row = con.execute("SELECT price FROM prices WHERE month = ?", (month,)).fetchone()
            con.execute("COMMIT")
            return int(version), None if row is None else int(row[0])

    def current(self) -> int:
        with closing(self._connect()) as con:
            return int(con.execute("SELECT v FROM version").fetchone()[0])

    def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        with closing(self._connect()) as con:
            con.execute("BEGIN")
            version = con.execute("SELECT v FROM version").fetchone()[0]
            tags = {t for (t,) in con.execute("SELECT tag FROM changes WHERE version > ?", (since,))}
            con.execute("COMMIT")
            return int(version), frozenset(tags)


class LedgerVersions:
    def __init__(self, ledger: Ledger, delay: float) -> None:
        self.ledger = ledger
        self.delay = delay

    async def current(self) -> int:
        await asyncio.sleep(self.delay)
        return await asyncio.to_thread(self.ledger.current)

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        await asyncio.sleep(self.delay)
        return await asyncio.to_thread(self.ledger.changes, since)


class LedgerSource:
    def __init__(self, ledger: Ledger, *, slow_month: str | None, delay: float) -> None:
        self.ledger = ledger
        self.slow_month = slow_month
        self.delay = delay

    async def run(self, query: Query) -> Result:
        month = str(query.params["month"])
        version, price = await asyncio.to_thread(self.ledger.read, month)
        if month == self.slow_month:
            await asyncio.sleep(self.delay)  # still answering from the snapshot read above
        table = pa.table({"month": [month], "price": [price], "version": [version]})
        return Result(table=table, tags=frozenset({f"month:{month}"}), version=version)


class LedgerDomain:
    name = DATASET

    def __init__(self) -> None:
        self.ledger = Ledger(os.environ["LEDGER_DB"])
        self.source = LedgerSource(self.ledger, slow_month=os.environ.get("LEDGER_SLOW_MONTH"),
                                   delay=float(os.environ.get("LEDGER_SLOW_SOURCE", "0")))

    def register(self, app: FastAPI, engine: Engine, settings: Settings) -> None:
        engine.register(Dataset(DATASET, Policy(ttl_l1=300, ttl_l2=3600), self.source))
        engine.follow(DATASET, LedgerVersions(self.ledger, float(os.environ.get("LEDGER_SLOW_VERSION", "0"))),
                      interval=settings.version_poll_interval)

        @app.get("/prices/{month}")
        async def prices(month: str, request: Request) -> Response:
            return await serve_query(request, Query(DATASET, "prices", {"month": month}))

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def health(self) -> dict[str, Any]:
        return {"ok": True}


def create() -> FastAPI:
    return create_app(Settings(), [LedgerDomain()])
