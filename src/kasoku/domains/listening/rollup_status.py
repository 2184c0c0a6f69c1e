"""``kasoku rollup status``: which roll-ups exist, how big they are, and whether they match the plays.

"Fresh" is checked, not assumed: for every plays month the monthly tracks roll-up must exist
and its ``sum(play_count)`` must equal the month's plays row count (Parquet footers, no scan
of the plays data). A month that fails is listed as missing or stale; ``rollup rebuild``
fixes both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kasoku.domains.listening import rollup_build as rb
from kasoku.domains.listening.source import parquet_list
from kasoku.lake.duckdb_pool import open_connection, sql_file_list
from kasoku.lake.storage import Lake


@dataclass
class TableStatus:
    table: str
    months: list[str]
    files: int
    rows: int
    bytes: int

    @property
    def span(self) -> str:
        return f"{self.months[0]} .. {self.months[-1]}" if self.months else "-"


@dataclass
class RollupStatus:
    manifest_version: int
    updated_at: str | None
    plays: TableStatus
    tables: list[TableStatus]
    missing: dict[str, list[str]] = field(default_factory=dict)  # table -> plays months without a partition
    stale: list[str] = field(default_factory=list)  # months whose tracks roll-up disagrees with plays

    @property
    def fresh(self) -> bool:
        return not self.stale and not any(self.missing.values())


def _table(con: object, lake: Lake, table: str) -> TableStatus:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    months = lake.months(table)
    files = lake.files(table)
    if not files:
        return TableStatus(table, months, 0, 0, 0)
    rel = parquet_list(files)
    rows = con.execute(f"SELECT count(*) FROM {rel}").fetchone()
    size = con.execute(f"SELECT sum(total_compressed_size) FROM parquet_metadata({sql_file_list(files)})").fetchone()
    return TableStatus(table, months, len(files), int(rows[0]) if rows else 0, int(size[0] or 0) if size else 0)


def rollup_status(lake: Lake) -> RollupStatus:
    lake.refresh()
    manifest = lake.manifest()
    con = open_connection(lake, threads=2)
    try:
        plays = _table(con, lake, rb.PLAYS)
        tables = [_table(con, lake, t) for t in rb.ALL_TABLES]
        present = set(plays.months)
        missing = {t.table: sorted(present - set(t.months)) for t in tables
                   if t.table in rb.FROM_PLAYS or t.table in (rb.TRACKS_WINDOW, rb.ARTISTS_WINDOW)}
        if lake.months(rb.ARTISTS):
            genres = next(t for t in tables if t.table == rb.GENRES_MONTHLY)
            missing[rb.GENRES_MONTHLY] = sorted(present - set(genres.months))
        stale: list[str] = []
        for month in sorted(present & set(lake.months(rb.TRACKS_MONTHLY))):
            counted = con.execute(f"SELECT count(*) FROM {parquet_list(lake.files(rb.PLAYS, [month]))}").fetchone()
            rolled = con.execute(f"SELECT sum(play_count) FROM {parquet_list(lake.files(rb.TRACKS_MONTHLY, [month]))}").fetchone()
            if (counted[0] if counted else 0) != (rolled[0] if rolled else 0):
                stale.append(month)
    finally:
        con.close()
    return RollupStatus(manifest.version, manifest.updated_at, plays, tables, missing, stale)
