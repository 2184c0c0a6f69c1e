"""Keeping a lake small and tidy: status, vacuum (old snapshots, unused and orphan files), compaction.

- :func:`status` — current snapshot, snapshot count, per table files/bytes/rows, the last ingest.
- :func:`vacuum` — expire snapshots older than the retention, then delete the data files only
  expired snapshots used and *orphans*: files in the data path the catalog never named (a
  killed writer leaves them; they were never visible). Answers pinned to an expired snapshot
  can no longer be recomputed, which is why the retention is hours, not seconds.
- :func:`compact` — flush rows inlined in the catalog into Parquet and merge adjacent small
  files. A compaction is a snapshot like any other: readers see the same rows before and after,
  and a compaction killed half-way leaves the previous snapshot as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb

from kasoku.lake.ducklake import ALIAS, Lake, current_snapshot
from kasoku.lake.extensions import quote
from kasoku.lake.transaction import GUARD

_L = quote(ALIAS)


@dataclass
class TableInfo:
    name: str
    files: int
    bytes: int
    delete_files: int
    rows: int


@dataclass
class LakeStatus:
    url: str
    catalog: str
    snapshot: int
    snapshots: int
    tables: list[TableInfo] = field(default_factory=list)
    last_ingest: dict[str, Any] | None = None

    @property
    def files(self) -> int:
        return sum(t.files + t.delete_files for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)


def status(lake: Lake) -> LakeStatus:
    con = lake.connect(read_only=True)
    try:
        snapshot = current_snapshot(con)
        count = con.execute(f"SELECT count(*) FROM ducklake_snapshots({_L})").fetchone()
        tables = []
        for name, files, size, dfiles in con.execute(
                f"SELECT table_name, file_count, file_size_bytes, delete_file_count FROM ducklake_table_info({_L}) "
                "ORDER BY table_name").fetchall():
            rows = con.execute(f"SELECT count(*) FROM {ALIAS}.{name}").fetchone()
            tables.append(TableInfo(name, int(files), int(size), int(dfiles), int(rows[0]) if rows else 0))
        last = con.execute(f"""SELECT snapshot_id, CAST(snapshot_time AS VARCHAR), commit_message
                               FROM ducklake_snapshots({_L}) WHERE commit_message LIKE 'ingest%'
                               ORDER BY snapshot_id DESC LIMIT 1""").fetchone()
    finally:
        con.close()
    last_ingest = {"snapshot": int(last[0]), "at": last[1], "message": last[2]} if last else None
    return LakeStatus(lake.url, lake.catalog_display, snapshot, int(count[0]) if count else 0,
                      [t for t in tables if f"{ALIAS}.{t.name}" != GUARD], last_ingest)


@dataclass
class VacuumReport:
    snapshots_expired: int
    files_deleted: int
    orphans_deleted: int


def vacuum(lake: Lake, *, retention: timedelta, now: datetime | None = None) -> VacuumReport:
    """Expire snapshots older than ``retention`` (never the current one) and delete unused files."""
    cutoff = (now or datetime.now(timezone.utc)) - retention
    stamp = quote(cutoff.isoformat())
    con = lake.connect()
    try:
        expired = _count(con, f"ducklake_expire_snapshots({_L}, older_than => {stamp}::TIMESTAMPTZ)")
        old = _count(con, f"ducklake_cleanup_old_files({_L}, cleanup_all => true)")
        # Orphans younger than the retention may belong to a writer still running: keep those.
        orphans = _count(con, f"ducklake_delete_orphaned_files({_L}, older_than => {stamp}::TIMESTAMPTZ)")
    finally:
        con.close()
    return VacuumReport(expired, old, orphans)


def _count(con: duckdb.DuckDBPyConnection, call: str) -> int:
    """Run a DuckLake maintenance table function; how many rows (snapshots, files) it reports."""
    return con.execute(f"CALL {call}").to_arrow_table().num_rows  # arrow: no Python timestamp conversion


@dataclass
class CompactReport:
    snapshot_before: int
    snapshot_after: int
    files_before: int
    files_flushed: int  # files after inlined rows were written out (before merging)
    files_after: int
    rows_flushed: int


def _files(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT coalesce(sum(file_count), 0) FROM ducklake_table_info({_L})").fetchone()
    return int(row[0]) if row else 0


def compact(lake: Lake) -> CompactReport:
    """Flush inlined rows to Parquet, rewrite files carrying many deletes, merge adjacent small
    files (what a scheduler calls). Each step commits its own snapshot with the same rows."""
    con = lake.connect()
    try:
        before, files_before = current_snapshot(con), _files(con)
        flushed = con.execute(f"CALL ducklake_flush_inlined_data({_L})").to_arrow_table()
        rows = int(sum(int(v) for v in flushed.column("rows_flushed").to_pylist())) if flushed.num_rows else 0
        files_flushed = _files(con)
        _count(con, f"ducklake_rewrite_data_files({_L})")
        _count(con, f"ducklake_merge_adjacent_files({_L})")
        after, files_after = current_snapshot(con), _files(con)
    finally:
        con.close()
    return CompactReport(before, after, files_before, files_flushed, files_after, rows)
