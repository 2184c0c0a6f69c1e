"""``kasoku rollup status``: which roll-ups exist, how big they are, and whether they match the plays.

"Fresh" is checked, not assumed: for every plays month the monthly tracks roll-up must exist
and its ``sum(play_count)`` must equal the month's plays row count (one grouped query each,
at one snapshot). A month that fails is listed as missing or stale; ``rollup rebuild`` fixes both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from kasoku.domains.listening import rollup_build as rb
from kasoku.domains.listening.tables import MONTH_OF, months_of, ref
from kasoku.lake.ducklake import ALIAS, Lake, current_snapshot
from kasoku.lake.extensions import quote


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
    snapshot: int
    plays: TableStatus
    tables: list[TableStatus]
    missing: dict[str, list[str]] = field(default_factory=dict)  # table -> plays months without rows
    stale: list[str] = field(default_factory=list)  # months whose tracks roll-up disagrees with plays

    @property
    def fresh(self) -> bool:
        return not self.stale and not any(self.missing.values())


def _table(con: duckdb.DuckDBPyConnection, table: str, snapshot: int, files: dict[str, tuple[int, int]]) -> TableStatus:
    rows = con.execute(f"SELECT count(*) FROM {ref(table, snapshot)}").fetchone()
    nfiles, nbytes = files.get(table, (0, 0))
    return TableStatus(table, months_of(con, table, snapshot), nfiles, int(rows[0]) if rows else 0, nbytes)


def rollup_status(lake: Lake) -> RollupStatus:
    con = lake.connect(read_only=True)
    try:
        snapshot = current_snapshot(con)
        files = {r[0]: (int(r[1]), int(r[2])) for r in con.execute(
            f"SELECT table_name, file_count, file_size_bytes FROM ducklake_table_info({quote(ALIAS)})").fetchall()}
        plays = _table(con, rb.PLAYS, snapshot, files)
        tables = [_table(con, t, snapshot, files) for t in rb.ALL_TABLES]
        present = set(plays.months)
        missing = {t.table: sorted(present - set(t.months)) for t in tables
                   if t.table in rb.FROM_PLAYS or t.table in (rb.TRACKS_WINDOW, rb.ARTISTS_WINDOW)}
        if con.execute(f"SELECT count(*) FROM {ref(rb.ARTISTS, snapshot)}").fetchone()[0]:  # type: ignore[index]
            genres = next(t for t in tables if t.table == rb.GENRES_MONTHLY)
            missing[rb.GENRES_MONTHLY] = sorted(present - set(genres.months))
        stale = [r[0] for r in con.execute(f"""
            SELECT p.m FROM (SELECT {MONTH_OF[rb.PLAYS]} AS m, count(*) AS n FROM {ref(rb.PLAYS, snapshot)} GROUP BY m) p
            JOIN (SELECT {MONTH_OF[rb.TRACKS_MONTHLY]} AS m, sum(play_count) AS n FROM {ref(rb.TRACKS_MONTHLY, snapshot)}
                  GROUP BY m) t USING (m)
            WHERE p.n <> t.n ORDER BY p.m""").fetchall()]
    finally:
        con.close()
    return RollupStatus(snapshot, plays, tables, missing, stale)
