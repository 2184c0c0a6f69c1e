"""Serve the raw records of the racing lake (``jvdata_raw``) with JV-Link's semantics.

JV-Link's twin on any OS (the default upstream): the same validation and return codes (through
the catalogue), the same shapes — stored data by data-creation day (``fromtime``'s time part
ignored: the records' creation date has no time), realtime data by race day or race key, no data
→ ``[]`` — and the same order (day, then import order). ``kasoku racing import`` fills it in the
transaction that fills the tables, so one lake (local or S3, one catalog, snapshots) holds both.
Every call reads the lake's newest snapshot.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow.compute as pc

from kasoku.domains.racing import catalogue
from kasoku.domains.racing.clients.base import DEFAULT_MAX_FETCH_BYTES, ArtificialDelay, FetchTooLarge
from kasoku.domains.racing.lake_tables import RAW_TABLE
from kasoku.errors import UpstreamUnavailable
from kasoku.lake.ducklake import ALIAS, Lake

__all__ = ["LakeClient"]

BATCH_ROWS = 2048


class LakeClient:
    """An :class:`UpstreamClient` over the lake's ``jvdata_raw`` table."""

    name = "lake"

    def __init__(self, lake: Lake, *, delay: tuple[float, float] | None = None, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES) -> None:
        self.lake = lake
        self._max_fetch_bytes = max_fetch_bytes
        self._delay = ArtificialDelay(delay[0], delay[1], rng or random.Random(), sleep) if delay is not None else None
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._calls = 0
        self._closed = False

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise UpstreamUnavailable("lake client is closed", details={"client": self.name})
            self._calls += 1
            if self._con is None:
                self._con = self.lake.connect(read_only=True)
            cur = self._con.cursor()
        if self._delay is not None:
            self._delay.apply()
        return cur

    def _records(self, cur: duckdb.DuckDBPyConnection, where: str, args: list[Any], dataspec: str) -> list[bytes]:
        """One query, read in batches: past ``max_fetch_bytes`` it stops reading (413), like the COM
        client's read loop (a second query for the size first cost as much as the read again)."""
        try:
            reader = cur.execute(f"SELECT record FROM {ALIAS}.{RAW_TABLE} WHERE {where} ORDER BY day, seq",
                                 args).to_arrow_reader(BATCH_ROWS)
        except duckdb.CatalogException:
            return []  # nothing imported into this lake yet
        out: list[bytes] = []
        size = 0
        for batch in reader:
            records = batch.column(0)
            size += int(pc.sum(pc.binary_length(records)).as_py() or 0)
            if size > self._max_fetch_bytes:
                raise FetchTooLarge(dataspec, size, self._max_fetch_bytes)
            out.extend(records.to_pylist())
        return out

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        spec = catalogue.get_dataspec(dataspec)
        start, end = catalogue.validate_fromtime(spec, fromtime)
        catalogue.validate_option(spec, option)
        cur = self._cursor()
        try:
            where, args = "dataspec = ? AND day >= ?", [spec.name, start[:8]]
            if end is not None:
                where, args = where + " AND day <= ?", [*args, end[:8]]
            return self._records(cur, where, args, dataspec)
        finally:
            cur.close()

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        spec = catalogue.get_dataspec(dataspec)
        kind = catalogue.validate_realtime_key(spec, key)
        cur = self._cursor()
        try:
            where, args = "dataspec = ? AND day = ?", [spec.name, key[:8]]
            if kind != "date":
                where, args = where + " AND race_key = ?", [*args, key]
            return self._records(cur, where, args, dataspec)
        finally:
            cur.close()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "lake": self.lake.url, "closed": self._closed, "calls": self._calls}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._con is not None:
                self._con.close()
                self._con = None
