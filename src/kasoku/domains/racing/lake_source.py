"""Answers over the racing lake: the table list, a table's rows (filtered, paged), a race card.

One dataset, ``racing.lake``, answered by :class:`LakeTablesSource` through the shared
responder, so every answer is cached by the engine and carries the lake snapshot it was
read at (``Result.version``); :class:`RacingLakeVersions` tells the engine which tables each
new snapshot touched (tags ``racing-table:<name>``), so a racing import drops exactly the
cached answers that read the tables it changed.

Queries (all pinned to one snapshot):

- ``tables``: every racing table and view present: name, kind, columns (name + type), rows
  (tables; null for views, whose count would run them);
- ``table``: one table or view; filters ``start``/``end`` (``race_date``), ``race_id``,
  ``racecourse``, ``horse``, ``jockey``, ``trainer`` — each only where the relation has the
  column (else 400 naming it) — ``columns``, ``limit``/``offset`` (stable order);
- ``race``: one race card: the race, its entries, latest odds (win … exacta) and payouts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kasoku.domains.racing.lake_tables import (DATE_COLUMN, FILTER_COLUMNS, TABLES, VIEW_NAMES, VIEW_TABLES,
                                               view_sql)
from kasoku.engine.arrow import JSON_COLUMN_FLAG
from kasoku.engine.types import Query, Result
from kasoku.errors import InvalidParameter, NotFound, UpstreamUnavailable
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import ALIAS, ROW_CHANGES, Lake, current_snapshot
from kasoku.lake.ducklake import changes_since as lake_changes_since
from kasoku.lake.extensions import quote

DATASET = "racing.lake"
TABLES_Q, TABLE_Q, RACE_Q = "tables", "table", "race"
TAG = "racing-table:"
HIDDEN = ("_key", "_hash")  # bookkeeping columns: never sent
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000
MAX_OFFSET = 10**9
CARD_BETS = ("win", "place", "bracket_quinella", "quinella", "wide", "exacta")  # trio/trifecta: /tables/odds
_VIEW_ORDER = {
    "races": "race_id", "entries": "race_id, horse_number", "odds": "race_id, bet_type, combination",
    "payouts": "race_id, bet_type, combination", "horses": "pedigree_reg_num", "jockeys": "jockey_code",
    "trainers": "trainer_code", "pedigree": "pedigree_reg_num, position",
}
COLUMNS_FIELD = pa.field("columns", pa.string(), metadata={JSON_COLUMN_FLAG: b"1"})


def pinned(snapshot: int) -> Any:
    return lambda t: f"{ALIAS}.{t} AT (VERSION => {int(snapshot)})"


def base_tables(name: str) -> tuple[str, ...]:
    return VIEW_TABLES.get(name, (name,))


def tags_of(names: Sequence[str]) -> frozenset[str]:
    return frozenset(f"{TAG}{t}" for n in names for t in base_tables(n))


_KNOWN = frozenset(TABLES)
_MEMO_SIZE = 64
_tables_memo: dict[tuple[str, int], frozenset[str]] = {}
_columns_memo: dict[tuple[str, str, int], list[tuple[str, str]]] = {}
_memo_lock = threading.Lock()


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    with _memo_lock:
        if len(memo) >= _MEMO_SIZE:
            memo.pop(next(iter(memo)))
        memo[key] = value
    return value


def existing_tables(cur: duckdb.DuckDBPyConnection, snapshot: int | None = None, lake: str = "") -> frozenset[str]:
    """The racing tables the lake holds. ``ducklake_table_info`` is one catalog read (``duckdb_tables()``
    costs one per table: seconds on a lake of 60 tables); the answer per snapshot never changes, so
    it is remembered (per lake: ``lake`` is its catalog)."""
    if snapshot is not None and (lake, snapshot) in _tables_memo:
        return _tables_memo[lake, snapshot]
    found = frozenset(r[0] for r in cur.execute(f"SELECT table_name FROM ducklake_table_info({quote(ALIAS)})")
                      .fetchall() if r[0] in _KNOWN)
    return _remember(_tables_memo, (lake, snapshot), found) if snapshot is not None else found


def columns_of(cur: duckdb.DuckDBPyConnection, name: str, snapshot: int, lake: str = "") -> list[tuple[str, str]]:
    """(column, type) of a table or view at ``snapshot`` (remembered: a snapshot's schema is fixed)."""
    key = (lake, name, snapshot)
    if key in _columns_memo:
        return _columns_memo[key]
    cols = [(c, t) for c, t, *_ in cur.execute(f"DESCRIBE SELECT * FROM {relation(name, snapshot)}").fetchall()]
    return _remember(_columns_memo, key, cols)  # type: ignore[no-any-return]


def relation(name: str, snapshot: int) -> str:
    """The table or view ``name`` at ``snapshot``, as a subquery."""
    ref = pinned(snapshot)
    return f"({view_sql(name, ref)})" if name in VIEW_NAMES else ref(name)


def order_of(name: str, columns: Sequence[str]) -> str:
    return _VIEW_ORDER.get(name, "race_date, _key" if DATE_COLUMN in columns else "_key")


class LakeTablesSource:
    def __init__(self, lake: Lake, pool: DuckDBPool) -> None:
        self.lake = lake
        self.pool = pool
        self.key = lake.catalog  # which lake the schema memo speaks of

    async def run(self, query: Query) -> Result:
        try:
            snapshot = int(await self.pool.run(current_snapshot))
            if query.name == TABLES_Q:
                table, tags = await self.pool.run(lambda cur: list_tables(cur, snapshot, self.key))
                return Result(table=table, tags=tags, source="lake", meta={"snapshot": snapshot}, version=snapshot)
            if query.name == TABLE_Q:
                table, meta = await self.pool.run(lambda cur: read_table(cur, snapshot, dict(query.params), self.key))
                return Result(table=table, tags=tags_of([meta["table"]]), source="lake",
                              meta={**meta, "snapshot": snapshot}, version=snapshot)
            if query.name == RACE_Q:
                race_id = str(query.params["race_id"])
                table = await self.pool.run(lambda cur: race_card(cur, snapshot, race_id, self.key))
                return Result(table=table, tags=tags_of(["races", "entries", "odds", "payouts"]), source="lake",
                              meta={"race_id": race_id, "snapshot": snapshot}, version=snapshot)
        except duckdb.IOException as exc:
            raise UpstreamUnavailable("the lake's files are missing or unreachable; retry, or check the lake",
                                      details={"lake": self.lake.url, "error": str(exc).splitlines()[0]},
                                      headers={"Retry-After": "5"}) from None
        raise InvalidParameter(f"unknown racing lake query {query.name!r}")


def list_tables(cur: duckdb.DuckDBPyConnection, snapshot: int, lake: str = "") -> tuple[pa.Table, frozenset[str]]:
    present = existing_tables(cur, snapshot, lake)
    names = [t for t in TABLES if t in present] + [v for v in VIEW_NAMES if set(VIEW_TABLES[v]) <= present]
    rows: dict[str, list[Any]] = {"name": [], "kind": [], "rows": [], "columns": []}
    for name in names:
        rel = relation(name, snapshot)
        cols = [(c, t) for c, t in columns_of(cur, name, snapshot, lake) if c not in HIDDEN]
        rows["name"].append(name)
        rows["kind"].append("view" if name in VIEW_NAMES else "table")
        if name in VIEW_NAMES:
            # A view's count would run it (``odds`` unnests every odds list: millions of rows a year).
            rows["rows"].append(None)
        else:
            count = cur.execute(f"SELECT count(*) FROM {rel}").fetchone()
            rows["rows"].append(int(count[0]) if count else 0)
        rows["columns"].append(orjson.dumps([{"name": c, "type": t} for c, t in cols]).decode())
    schema = pa.schema([pa.field("name", pa.string()), pa.field("kind", pa.string()), pa.field("rows", pa.int64()),
                        COLUMNS_FIELD])
    return pa.Table.from_pydict(rows, schema=schema), tags_of(names)


def _require(cur: duckdb.DuckDBPyConnection, name: str, snapshot: int, lake: str) -> None:
    if name not in TABLES and name not in VIEW_NAMES:
        raise NotFound(f"no racing table or view {name!r}", details={"table": name, "tables": list(TABLES),
                                                                      "views": list(VIEW_NAMES)})
    missing = [t for t in base_tables(name) if t not in existing_tables(cur, snapshot, lake)]
    if missing:
        raise NotFound(f"{name!r} has no data in this lake yet (import JV-Data with kasoku racing import --lake)",
                       details={"table": name, "missing": missing})


def read_table(cur: duckdb.DuckDBPyConnection, snapshot: int, params: Mapping[str, Any],
               lake: str = "") -> tuple[pa.Table, dict[str, Any]]:
    name = str(params["table"])
    _require(cur, name, snapshot, lake)
    rel = relation(name, snapshot)
    columns = [c for c, _ in columns_of(cur, name, snapshot, lake)]
    visible = [c for c in columns if c not in HIDDEN]
    where: list[str] = []
    args: list[Any] = []
    for key in ("start", "end"):
        value = params.get(key)
        if value is None:
            continue
        if DATE_COLUMN not in columns:
            raise InvalidParameter(f"{name!r} has no date to filter by: {key}= does not apply",
                                   details={"parameter": key, "table": name})
        where.append(f"{DATE_COLUMN} {'>=' if key == 'start' else '<='} ?")
        args.append(date.fromisoformat(str(value)))
    for key, column in FILTER_COLUMNS.items():
        value = params.get(key)
        if value is None:
            continue
        if column not in columns:
            raise InvalidParameter(f"{name!r} has no {column}: {key}= does not apply",
                                   details={"parameter": key, "table": name})
        where.append(f"{column} = ?")
        args.append(str(value))
    wanted = params.get("columns")
    if wanted:
        unknown = [c for c in wanted if c not in visible]
        if unknown:
            raise InvalidParameter(f"{name!r} has no column {', '.join(map(repr, unknown))}",
                                   details={"columns": unknown, "table": name, "known": visible})
        select = ", ".join(quote_ident(c) for c in wanted)
    else:
        select = ", ".join(quote_ident(c) for c in visible)
    limit, offset = int(params.get("limit", DEFAULT_LIMIT)), int(params.get("offset", 0))
    sql = (f"SELECT {select} FROM {rel} {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY {order_of(name, columns)} LIMIT {limit + 1} OFFSET {offset}")
    table = cur.execute(sql, args).to_arrow_table()
    has_more = table.num_rows > limit
    if has_more:
        table = table.slice(0, limit)
    end = offset + table.num_rows
    meta = {"table": name, "offset": offset, "limit": limit, "has_more": has_more,
            "next_offset": end if has_more else None}
    return table, meta


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_list(table: pa.Table) -> pa.Array:
    table = table.combine_chunks()
    structs = (pa.StructArray.from_arrays([c.combine_chunks() for c in table.columns], names=table.column_names)
               if table.num_columns
               else pa.array([], pa.struct([])))
    return pa.ListArray.from_arrays(pa.array([0, table.num_rows], pa.int32()), structs)


def race_card(cur: duckdb.DuckDBPyConnection, snapshot: int, race_id: str, lake: str = "") -> pa.Table:
    """One row: ``race`` (struct), ``entries``, ``odds``, ``payouts`` (lists of structs)."""
    present = existing_tables(cur, snapshot, lake)
    if "ra" not in present:
        raise NotFound(f"no race {race_id!r}: the lake holds no races yet", details={"race_id": race_id})
    ref = pinned(snapshot)
    race = cur.execute(f"SELECT * FROM ({view_sql('races', ref)}) WHERE race_id = ?", [race_id]).to_arrow_table()
    if race.num_rows == 0:
        raise NotFound(f"no race {race_id!r} in the lake", details={"race_id": race_id})

    def part(view: str, order: str, extra: str = "") -> pa.Table:
        if not set(VIEW_TABLES[view]) <= present:
            return pa.table({})
        return cur.execute(f"SELECT * EXCLUDE (race_id, race_date, racecourse_code) FROM ({view_sql(view, ref)}) "
                           f"WHERE race_id = ? {extra} ORDER BY {order}", [race_id]).to_arrow_table()

    bets = ", ".join(f"'{b}'" for b in CARD_BETS)
    entries = part("entries", "horse_number")
    odds = part("odds", f"list_position([{bets}], bet_type), combination", f"AND bet_type IN ({bets})")
    payouts = part("payouts", f"list_position([{', '.join(repr(b) for b in CARD_BETS + ('trio', 'trifecta'))}], "
                              "bet_type), combination")
    race_struct = pa.StructArray.from_arrays([c.combine_chunks() for c in race.columns], names=race.column_names)
    return pa.table({"race": race_struct, "entries": _as_list(entries), "odds": _as_list(odds),
                     "payouts": _as_list(payouts)})


# --- the data version ----------------------------------------------------------------------
def changes_since(con: duckdb.DuckDBPyConnection, since: int) -> tuple[int, frozenset[str] | None]:
    """(current snapshot, tags of the racing tables changed since ``since``; None = everything).

    Snapshots that touched only other domains' tables change no tag; a racing table created,
    altered or dropped (or history vacuumed past ``since``) changes everything."""
    current, log = lake_changes_since(con, since)
    if log is None:
        return current, None
    racing = set(TABLES) | set(VIEW_NAMES)
    touched: set[str] = set()
    for change in log:
        found = {name for name, _known in change.tables} & racing
        if not found:
            continue
        if change.kind not in ROW_CHANGES:
            return current, None
        touched |= found
    return current, frozenset(f"{TAG}{t}" for t in touched)


class RacingLakeVersions:
    """The engine's ``VersionSource`` for ``racing.lake``: the lake snapshot, and the racing tables it changed."""

    def __init__(self, pool: DuckDBPool | None = None, lake: Lake | None = None) -> None:
        self.pool = pool
        self.lake = lake
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    async def _call(self, fn: Any) -> Any:
        if self.pool is not None:
            return await self.pool.run(fn)

        def run() -> Any:
            with self._lock:
                if self._con is None:
                    assert self.lake is not None
                    self._con = self.lake.connect(read_only=True)
                return fn(self._con.cursor())
        return await asyncio.to_thread(run)

    async def current(self) -> int:
        return int(await self._call(current_snapshot))

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        result: tuple[int, frozenset[str] | None] = await self._call(lambda cur: changes_since(cur, since))
        return result
