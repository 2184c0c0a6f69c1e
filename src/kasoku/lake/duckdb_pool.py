"""Pooled DuckDB for lake queries.

The original system opened a new DuckDB connection per request: load the extensions, create
the S3 secret, attach, then query — :func:`open_connection` is exactly that, and benchmarks
use it as the baseline. :class:`DuckDBPool` does it once per process: one in-memory database
with the lake attached read-only, a thread pool, and one cursor per worker thread (DuckDB
cursors are not thread-safe, a cursor per thread is DuckDB's documented pattern). Queries
run off the event loop; each new transaction sees the lake's newest snapshot.

Every DuckDB thread — the pool's workers and DuckDB's own scheduler threads, which are
started by the thread that opens the database and inherit its priority — runs at a lower CPU
priority than the event loop (:func:`yield_cpu`, setting ``duckdb_nice``). On a machine whose cores DuckDB saturates,
the event loop would otherwise wait its turn behind DuckDB for every wake-up: measured on 2
cores with 50 heavy queries, that, not the GIL, was most of ``/health/live``'s latency.

A query past its deadline is interrupted from the waiting side, the call raises
:class:`~kasoku.errors.QueryTimeout`, and the worker's cursor is dropped and re-created on
next use, so a wedged cursor never serves another request.

The pool only reads; writers use their own connection (:mod:`kasoku.lake.transaction`),
never a pool cursor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from kasoku.errors import QueryTimeout
from kasoku.lake.ducklake import Lake

log = logging.getLogger(__name__)
T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any] | None

# How long a timed-out call waits for its worker to stop after interrupt() before giving up.
_STOP_GRACE = 5.0
_INTERRUPT_EVERY = 0.05


def yield_cpu(increment: int) -> None:
    """Lower the calling thread's CPU priority by ``increment`` nice steps (Linux: nice is per
    thread, and threads it starts inherit it; CFS gives a nice-0 thread ~10x the CPU share of
    a nice-10 one and lets it preempt sooner on wake-up). Raising nice needs no privilege;
    elsewhere, with 0, or if refused, nothing changes."""
    if sys.platform != "linux" or increment <= 0:
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except OSError as exc:
        log.debug("could not lower the priority of a DuckDB thread: %s", exc)


def open_connection(lake: Lake, *, threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A new DuckDB database with the lake attached read-only (what the pool holds; benchmarks' baseline)."""
    return lake.connect(read_only=True, threads=threads, memory_limit=memory_limit)


@dataclass
class ScanProfile:
    """What one Parquet scan in a profiled query touched (B1/B2 evidence)."""

    function: str
    files_read: int
    files: list[str]
    projections: list[str]
    file_filters: str | None = None
    scanning_files: str | None = None  # e.g. "1/12" when hive filters pruned files
    filters: str | None = None
    rows_scanned: int = 0
    table: str | None = None  # DuckLake scans name their table
    inlined_tables: int = 0  # DuckLake: catalog-inlined row sets read besides the files


@dataclass
class QueryProfile:
    """DuckDB's ``EXPLAIN (ANALYZE, FORMAT JSON)`` reduced to what pruning checks need."""

    latency_s: float
    rows_returned: int
    available: bool = True
    scans: list[ScanProfile] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def files_read(self) -> list[str]:
        return [f for s in self.scans for f in s.files]

    @property
    def columns_read(self) -> set[str]:
        return {c for s in self.scans for c in s.projections}

    @property
    def tables_read(self) -> set[str]:
        return {s.table for s in self.scans if s.table is not None}


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in str(value).split("\n") if v]


def explain_analyze(cur: duckdb.DuckDBPyConnection, sql: str, params: Params = None) -> QueryProfile:
    """Run ``sql`` under ``EXPLAIN ANALYZE`` and list, per Parquet or DuckLake scan, files read and columns projected.

    DuckDB 1.5 puts these in each ``TABLE_SCAN`` / ``DUCKLAKE_SCAN`` node's ``extra_info``: ``Total Files Read``,
    ``Filename(s)`` (comma-separated), ``Projections`` (a string for one column, a list for
    several), ``File Filters`` / ``Scanning Files`` ("k/n") when hive partition filters pruned
    files, and ``Filters`` for pushed-down row filters.

    Some plans give no operator tree at all: DuckDB 1.5 answers e.g. a bare ``max(col)`` over
    Parquet from file metadata and the profiler then reports ``{"result": "error"}``. That
    comes back as ``available=False`` with no scans, not as an exception.
    """
    rows = cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchall()
    doc = json.loads(rows[0][1])
    root = doc[0] if isinstance(doc, list) else doc
    scans: list[ScanProfile] = []
    if not isinstance(root, dict) or "children" not in root:
        log.debug("no profile tree for %s: %s", sql, rows[0][1][:200])
        return QueryProfile(latency_s=0.0, rows_returned=0, available=False, raw=root if isinstance(root, dict) else {})

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        if "Total Files Read" in info or str(info.get("Function", "")).upper().startswith("READ_") \
                or node.get("operator_name") == "DUCKLAKE_SCAN":
            names = info.get("Filename(s)", "")
            files = names if isinstance(names, list) else [n.strip() for n in str(names).split(",") if n.strip()]
            scans.append(ScanProfile(
                function=str(info.get("Function", node.get("operator_name", ""))),
                files_read=int(info.get("Total Files Read", len(files))),
                files=files,
                projections=_as_list(info.get("Projections")),
                file_filters=info.get("File Filters"),
                scanning_files=info.get("Scanning Files"),
                filters=str(info["Filters"]) if "Filters" in info else None,
                rows_scanned=int(node.get("operator_rows_scanned", 0)),
                table=str(info["Table"]) if "Table" in info else None,
                inlined_tables=int(info.get("Inlined Tables Read", 0) or 0),
            ))
        for child in node.get("children", []):
            walk(child)

    walk(root)
    # Under EXPLAIN the root's own rows_returned counts plan rows; the top operator's cardinality is the answer's.
    top: dict[str, Any] = root
    while top.get("children") and top.get("operator_type") in (None, "EXPLAIN_ANALYZE"):
        top = top["children"][0]
    return QueryProfile(latency_s=float(root.get("latency", 0.0)), rows_returned=int(top.get("operator_cardinality", 0)),
                        scans=scans, raw=root)


def warm_imports(conn: duckdb.DuckDBPyConnection) -> None:
    """Make DuckDB's Python client import now what it imports on a process's first query with
    parameters (pandas, among others: ~1 s on a busy 2-core machine). It imports holding the
    GIL, so done by the first query a worker runs it froze the event loop for that long —
    every request in flight, ``/health/live`` included. Done here, it is part of starting up."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT ?", [0]).fetchall()
    finally:
        cur.close()


class _Call:
    """One submitted job: lets the waiting side find and interrupt the cursor running it."""

    __slots__ = ("cursor", "timed_out")

    def __init__(self) -> None:
        self.cursor: duckdb.DuckDBPyConnection | None = None
        self.timed_out = False


class DuckDBPool:
    """One DuckDB database per process, queried from ``workers`` threads with a cursor each."""

    def __init__(self, lake: Lake, *, workers: int = 4, query_timeout: float = 30.0, threads: int | None = None,
                 memory_limit: str | None = None, nice: int = 10) -> None:
        self.lake = lake
        self.workers = workers
        self.query_timeout = query_timeout
        self._threads = threads
        self._memory_limit = memory_limit
        # Opened from a lowered thread: DuckDB's scheduler threads start here and inherit it.
        with cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kasoku-duckdb-open", initializer=yield_cpu,
                                   initargs=(nice,)) as opener:
            self._conn = opener.submit(open_connection, lake, threads=threads, memory_limit=memory_limit).result()
            opener.submit(warm_imports, self._conn).result()
        self._local = threading.local()
        self._executor = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kasoku-duckdb",
                                               initializer=yield_cpu, initargs=(nice,))
        self._lock = threading.Lock()
        self.timeouts = 0
        self.reconnects = 0
        self._closed = False

    # ---------------------------------------------------------------- cursors
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            self._local.cursor = cur
        return cur

    def _drop_cursor(self) -> None:
        cur = getattr(self._local, "cursor", None)
        self._local.cursor = None
        if cur is not None:
            try:
                cur.close()
            except duckdb.Error as exc:  # a broken cursor may refuse to close; it is dropped anyway
                log.debug("closing interrupted cursor: %s", exc)
            with self._lock:
                self.reconnects += 1

    def _job(self, fn: Callable[[duckdb.DuckDBPyConnection], T], call: _Call) -> T:
        if call.timed_out:  # the deadline passed while queued: don't start
            raise QueryTimeout("query timed out while waiting for a worker")
        cur = self._cursor()
        call.cursor = cur
        try:
            return fn(cur)
        finally:
            call.cursor = None
            if call.timed_out:
                self._drop_cursor()

    # ---------------------------------------------------------------- running
    def _submit(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[cf.Future[T], _Call]:
        if self._closed:
            raise RuntimeError("DuckDBPool is closed")
        call = _Call()
        return self._executor.submit(self._job, fn, call), call

    def _timeout_error(self, limit: float) -> QueryTimeout:
        with self._lock:
            self.timeouts += 1
        return QueryTimeout(f"query exceeded its {limit:g} s time limit and was interrupted",
                            details={"timeout_s": limit})

    @staticmethod
    def _interrupt(call: _Call, fut: cf.Future[Any]) -> None:
        call.timed_out = True
        if fut.cancel():  # still queued: it will never start
            return
        cur = call.cursor
        if cur is not None:
            try:
                cur.interrupt()
            except duckdb.Error as exc:
                log.debug("interrupt failed: %s", exc)

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, timeout: float | None = None) -> T:
        """Run ``fn(cursor)`` on a worker thread; past ``timeout`` interrupt it and raise QueryTimeout."""
        limit = self.query_timeout if timeout is None else timeout
        fut, call = self._submit(fn)
        afut = asyncio.wrap_future(fut)
        try:
            done, _ = await asyncio.wait({afut}, timeout=limit)
        except asyncio.CancelledError:
            # The caller went away (client disconnect): stop the query rather than let it run on.
            self._interrupt(call, fut)
            raise
        if done:
            return afut.result()
        # Interrupt repeatedly: the job may not have reached DuckDB yet when the first one lands.
        stop_by = time.monotonic() + _STOP_GRACE
        while not afut.done() and time.monotonic() < stop_by:
            self._interrupt(call, fut)
            await asyncio.wait({afut}, timeout=_INTERRUPT_EVERY)
        if afut.done() and not afut.cancelled():
            afut.exception()  # consumed: the interrupt error is expected, the timeout is what we report
        else:
            log.warning("query still running %.1f s after interrupt; its worker stays busy", _STOP_GRACE)
        raise self._timeout_error(limit)

    def run_sync(self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, timeout: float | None = None) -> T:
        """Blocking :meth:`run` for the CLI and benchmarks (no event loop)."""
        limit = self.query_timeout if timeout is None else timeout
        fut, call = self._submit(fn)
        try:
            return fut.result(timeout=limit)
        except cf.TimeoutError:
            pass
        stop_by = time.monotonic() + _STOP_GRACE
        while not fut.done() and time.monotonic() < stop_by:
            self._interrupt(call, fut)
            cf.wait([fut], timeout=_INTERRUPT_EVERY)
        if not fut.done():
            log.warning("query still running %.1f s after interrupt; its worker stays busy", _STOP_GRACE)
        raise self._timeout_error(limit)

    async def arrow(self, sql: str, params: Params = None, *, timeout: float | None = None) -> pa.Table:
        """Run one SQL statement and return the result as an Arrow table."""
        return await self.run(lambda cur: cur.execute(sql, params).to_arrow_table(), timeout=timeout)

    async def profile(self, sql: str, params: Params = None, *, timeout: float | None = None) -> QueryProfile:
        """:func:`explain_analyze` on a pool cursor: which files and columns ``sql`` actually reads."""
        return await self.run(lambda cur: explain_analyze(cur, sql, params), timeout=timeout)

    async def health(self, *, timeout: float = 2.0) -> dict[str, Any]:
        """``SELECT 1`` through the pool with a short deadline; never raises."""
        t0 = time.perf_counter()
        ok = True
        error: str | None = None
        try:
            await self.run(lambda cur: cur.execute("SELECT 1").fetchall(), timeout=timeout)
        except Exception as exc:  # health reports, it does not fail
            ok, error = False, f"{type(exc).__name__}: {self.lake.catalog_spec.redact(str(exc))}"
        out: dict[str, Any] = {"ok": ok, "latency_ms": (time.perf_counter() - t0) * 1000.0, "workers": self.workers,
                               "timeouts": self.timeouts, "reconnects": self.reconnects}
        if error is not None:
            out["error"] = error
        return out

    def close(self) -> None:
        """Stop the workers and close the database (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._conn.close()
