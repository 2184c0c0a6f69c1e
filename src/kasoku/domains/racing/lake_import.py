"""Import JV-Data records into the racing lake: one DuckLake transaction, JV-Data's update semantics.

Order matters for "bad input changes nothing": every record of every file is validated first
(``jvdata_files.read_checked``: length, cp932, dates, dataspec, every field parses), then decoded per
layout (``columnar.decode_tables``). Then one lake transaction (``lake.transaction.write``,
retried on a commit conflict) merges each table:

- a record's key is its JV-Data key (``lake_tables.KEYS``); within the import the latest
  record per key wins — newest ``data_creation_date``, then the later one in the input;
- it replaces the lake's row for that key unless the lake's row is newer (a later creation
  date) or is that very record (same bytes): 速報 → 確定 replaces, a re-import changes nothing;
- a winner with ``data_code`` 0 deletes the key's row (JV-Data's 該当レコード削除) and is not stored;
- SE only: an entry sent before the draw has horse number 00 (馬番 not yet assigned), so its key
  differs from the same horse's numbered entry after the draw. A numbered SE record replaces the
  horse's 00 row (same race, same 血統登録番号), and a 00 record of a horse the race already has
  numbered (in the lake or in the same import) is stale and not stored: one row per horse per race.

Tables (and the lake's views) are created on first use inside the same transaction.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing import catalogue, jvdata_files
from kasoku.domains.racing.columnar import decode_table
from kasoku.domains.racing.layouts import layout_for_length
from kasoku.domains.racing.lake_tables import (DELETE_CODE, LAYOUT_OF, RAW_COLUMNS, RAW_TABLE, TABLES, VIEW_NAMES, VIEW_TABLES,
                                               date_source, empty_table, key_slices, record_keys, table_name, view_sql)
from kasoku.errors import InputError
from kasoku.lake.ducklake import ALIAS, Lake
from kasoku.lake.extensions import quote
from kasoku.lake.transaction import registered, write

Progress = jvdata_files.Progress


@dataclass
class LakeImportSummary:
    files: int = 0
    records: int = 0  # records read
    inserted: int = 0  # rows written (new keys and replacements)
    replaced: int = 0  # rows that replaced an older row of the same key (or of the same horse's 00 SE entry)
    deleted: int = 0  # rows removed by data_code 0
    unchanged: int = 0  # records the lake already held (or held newer)
    raw_added: int = 0  # raw records added for the replay (jvdata_raw; byte-identical ones are held once)
    by_table: dict[str, int] = field(default_factory=dict)  # rows written per table
    snapshot: int | None = None
    attempts: int = 1


def ref(table: str, snapshot: int | None = None) -> str:
    return f"{ALIAS}.{table}" + (f" AT (VERSION => {int(snapshot)})" if snapshot is not None else "")


Target = jvdata_files.Target


def read_files(paths: Sequence[Path], dataspec: str | None = None,
               progress: Progress | None = None) -> tuple[list[bytes], list[Target]]:
    """Every record of ``paths`` in input order and where JV-Link delivers it (kind, dataspec, day),
    every record validated first (:func:`jvdata_files.read_checked`)."""
    return jvdata_files.read_checked(paths, dataspec, progress)


def targets_of(raws: Sequence[bytes], dataspec: str) -> list[Target]:
    """Where each record of one dataspec is delivered (validating it like an import)."""
    spec = catalogue.get_dataspec(dataspec)
    return [jvdata_files.check_record(r, spec) for r in raws]


def merge_raw(con: duckdb.DuckDBPyConnection, raws: Sequence[bytes], targets: Sequence[Target],
              hashes: Sequence[str]) -> int:
    """Append records not yet held for their (dataspec, day) — a byte-identical record is held
    once — in input order; returns how many were added."""
    incoming = pa.table({
        "kind": [t[0] for t in targets], "dataspec": [t[1] for t in targets], "day": [t[2] for t in targets],
        "race_key": [r[11:27].decode("ascii", "replace") for r in raws],
        "record_type": [r[:2].decode("ascii", "replace") for r in raws],
        "record": pa.array(list(raws), pa.binary()), "_hash": list(hashes),
        "_ord": pa.array(np.arange(len(raws), dtype=np.int64))})
    with registered(con, "racing_raw_in", incoming):
        row = con.execute(f"""
            INSERT INTO {ref(RAW_TABLE)}
            WITH inc AS (SELECT * FROM racing_raw_in
                         QUALIFY row_number() OVER (PARTITION BY dataspec, day, _hash ORDER BY _ord) = 1),
                 new AS (SELECT * FROM inc WHERE NOT EXISTS (
                     SELECT 1 FROM {ref(RAW_TABLE)} r
                     WHERE r.dataspec = inc.dataspec AND r.day = inc.day AND r._hash = inc._hash))
            SELECT dataspec, kind, day, race_key,
                   (SELECT coalesce(max(seq), 0) FROM {ref(RAW_TABLE)}) + row_number() OVER (ORDER BY _ord),
                   record_type, record, _hash
            FROM new ORDER BY _ord""").fetchone()
    return int(row[0]) if row else 0


def incoming_tables(raws: Sequence[bytes]) -> dict[str, pa.Table]:
    """Records grouped by table and decoded, with ``race_date``, ``_key``, ``_hash`` and ``_seq``
    (the record's position in the input: later wins among equal creation dates)."""
    groups: dict[str, tuple[list[int], list[bytes]]] = {}
    for seq, raw in enumerate(raws):
        layout = layout_for_length(raw[:2].decode("ascii", "replace"), len(raw) if raw.endswith(b"\r\n") else len(raw) + 2)
        if layout is None:
            raise InputError(f"record {seq + 1}: no layout for a {raw[:2]!r} record of {len(raw)} bytes")
        seqs, recs = groups.setdefault(table_name(layout), ([], []))
        seqs.append(seq)
        recs.append(raw)
    out: dict[str, pa.Table] = {}
    for name, (seqs, recs) in groups.items():
        layout = LAYOUT_OF[name]
        t = decode_table(recs, layout)
        slices = key_slices(layout)
        src = date_source(layout)
        if src == "meet":
            days = pc.binary_join_element_wise(t["meet_year"], t["meet_date"], "")
            race_date = pc.strptime(days, format="%Y%m%d", unit="s", error_is_null=True).cast(pa.date32())
        elif src == "training":
            race_date = t["training_date"]
        if src is not None:
            t = t.append_column("race_date", race_date)
        matrix = np.frombuffer(b"".join(r if r.endswith(b"\r\n") else r + b"\r\n" for r in recs),
                               np.uint8).reshape(len(recs), layout.length)
        t = (t.append_column("_key", record_keys(matrix, slices))
              .append_column("_hash", pa.array([hashlib.blake2b(r, digest_size=12).hexdigest() for r in recs],
                                               pa.string()))
              .append_column("_seq", pa.array(np.asarray(seqs, dtype=np.int64))))
        out[name] = t
    return out


def ensure_tables(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> bool:
    """Create the named racing tables that are missing, and the views once their tables exist.

    An import creates every table at once (empty ones too): the views and the API then see
    the same set of tables on every lake, whatever record types came first."""
    # ducklake_table_info: one catalog read (duckdb_tables() costs one per table).
    existing = {r[0] for r in con.execute(f"SELECT table_name FROM ducklake_table_info({quote(ALIAS)})").fetchall()}
    created = False
    if RAW_TABLE not in existing:
        con.execute(f"CREATE TABLE {ref(RAW_TABLE)} ({RAW_COLUMNS})")
        con.execute(f"ALTER TABLE {ref(RAW_TABLE)} SET PARTITIONED BY (dataspec)")
        created = True
    if set(names) <= existing and not created:
        try:  # the views are created last: the last one existing means all do
            con.execute(f"SELECT 1 FROM {ref(VIEW_NAMES[-1])} LIMIT 0")
            return False
        except duckdb.CatalogException:
            pass
    for name in names:
        if name in existing:
            continue
        with registered(con, "racing_empty", empty_table(name)):
            con.execute(f"CREATE TABLE {ref(name)} AS SELECT * FROM racing_empty LIMIT 0")
        if date_source(LAYOUT_OF[name]) is not None:
            con.execute(f"ALTER TABLE {ref(name)} SET PARTITIONED BY (year(race_date))")
        existing.add(name)
        created = True
    views = {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = ?", [ALIAS]).fetchall()}
    for view in VIEW_NAMES:
        if view not in views and set(VIEW_TABLES[view]) <= existing:
            con.execute(f"CREATE VIEW {ref(view)} AS {view_sql(view, lambda t: t)}")
            created = True
    return created


@dataclass
class _Merged:
    inserted: int = 0
    replaced: int = 0
    deleted: int = 0
    unchanged: int = 0


# SE's key is race_id|horse_number|pedigree_reg_num (lake_tables.record_keys): horse number at 18-19.
_SE_HORSE = "substr(_key, 1, 17) || substr(_key, 20)"  # the key without the horse number: race + horse
_SE_PREDRAW = "substr(_key, 18, 2) = '00'"
PREDRAW_TABLE = "se"


def drop_stale_predraw(con: duckdb.DuckDBPyConnection, incoming: pa.Table) -> tuple[pa.Table, int]:
    """Incoming SE rows without the pre-draw (00) records of horses the race already has numbered,
    in the lake or in this import; and how many were dropped."""
    days, bounds = _race_days(incoming)
    with registered(con, "racing_se_in", incoming.select(["_key", "_seq", "race_id"])):
        stale = con.execute(f"""
            WITH inc AS (SELECT _seq, {_SE_PREDRAW} AS predraw, {_SE_HORSE} AS horse FROM racing_se_in),
                 numbered AS (SELECT horse FROM inc WHERE NOT predraw
                              UNION SELECT {_SE_HORSE} FROM {ref(PREDRAW_TABLE)}
                              WHERE {days} AND NOT {_SE_PREDRAW} AND race_id IN (SELECT race_id FROM racing_se_in))
            SELECT _seq FROM inc WHERE predraw AND horse IN (SELECT horse FROM numbered)""", bounds).to_arrow_table()
    if not stale.num_rows:
        return incoming, 0
    keep = pc.invert(pc.is_in(incoming["_seq"], value_set=stale["_seq"]))
    return incoming.filter(keep), stale.num_rows


def supersede_predraw(con: duckdb.DuckDBPyConnection, incoming: pa.Table) -> int:
    """Delete the lake's pre-draw (00) SE rows of the horses ``incoming`` has numbered; how many."""
    days, bounds = _race_days(incoming)
    where = (f"{days} AND {_SE_PREDRAW} AND _key IN (SELECT substr(_key, 1, 17) || '00' || substr(_key, 20) "
             f"FROM racing_se_num WHERE NOT {_SE_PREDRAW})")
    with registered(con, "racing_se_num", incoming.select(["_key"])):
        found = con.execute(f"SELECT count(*) FROM {ref(PREDRAW_TABLE)} WHERE {where}", bounds).fetchone()
        if not found or not found[0]:
            return 0
        con.execute(f"DELETE FROM {ref(PREDRAW_TABLE)} WHERE {where}", bounds)
        return int(found[0])


def _race_days(incoming: pa.Table) -> tuple[str, list[object]]:
    """A predicate on ``race_date`` spanning the incoming rows' days (prunes the lake's files)."""
    span = pc.min_max(incoming["race_date"]).as_py() if incoming.num_rows else {"min": None, "max": None}
    if span["min"] is None:
        return "true", []
    return "race_date BETWEEN ? AND ?", [span["min"], span["max"]]


def merge_table(con: duckdb.DuckDBPyConnection, name: str, incoming: pa.Table) -> _Merged:
    """Apply one table's records with JV-Data's update semantics (see the module doc)."""
    stale = 0
    if name == PREDRAW_TABLE:
        incoming, stale = drop_stale_predraw(con, incoming)
    merged = _merge(con, name, incoming)
    merged.unchanged += stale
    if name == PREDRAW_TABLE:
        merged.replaced += supersede_predraw(con, incoming)
    return merged


def _merge(con: duckdb.DuckDBPyConnection, name: str, incoming: pa.Table) -> _Merged:
    """The update semantics every table shares: the latest record per key, data_code 0 deletes."""
    with registered(con, "racing_in", incoming):
        # The import's winner per key; then whether it changes the lake (and how).
        plan = con.execute(f"""
            WITH win AS (SELECT * FROM racing_in
                         QUALIFY row_number() OVER (PARTITION BY _key
                                   ORDER BY data_creation_date DESC NULLS LAST, _seq DESC) = 1),
                 cur AS (SELECT _key, _hash, data_creation_date FROM {ref(name)}
                         WHERE _key IN (SELECT _key FROM win))
            SELECT win._key, win.data_code = '{DELETE_CODE}' AS is_delete, cur._key IS NOT NULL AS exists_,
                   cur._key IS NOT NULL AND (cur._hash = win._hash
                       OR coalesce(cur.data_creation_date, DATE '1900-01-01')
                          > coalesce(win.data_creation_date, DATE '1900-01-01')) AS keep_lake
            FROM win LEFT JOIN cur USING (_key)""").to_arrow_table()
        keep = plan["keep_lake"]
        is_delete = plan["is_delete"]
        exists = plan["exists_"]
        apply = pc.invert(keep)
        deletes = pc.and_(apply, is_delete)
        drop_keys = plan.filter(pc.and_(apply, pc.or_(exists, pc.invert(is_delete)))).select(["_key"])
        put_keys = plan.filter(pc.and_(apply, pc.invert(is_delete))).select(["_key"])
        out = _Merged(unchanged=int(pc.sum(pc.cast(keep, pa.int64())).as_py() or 0),
                      deleted=int(pc.sum(pc.cast(pc.and_(deletes, exists), pa.int64())).as_py() or 0),
                      replaced=int(pc.sum(pc.cast(pc.and_(pc.and_(apply, exists), pc.invert(is_delete)),
                                                  pa.int64())).as_py() or 0),
                      inserted=put_keys.num_rows)
        # A delete of a key the lake never held changes nothing (and is not counted).
        out.unchanged += int(pc.sum(pc.cast(pc.and_(deletes, pc.invert(exists)), pa.int64())).as_py() or 0)
        if drop_keys.num_rows:
            with registered(con, "racing_drop", drop_keys):
                existing = con.execute(f"SELECT count(*) FROM {ref(name)} "
                                       "WHERE _key IN (SELECT _key FROM racing_drop)").fetchone()
                if existing and existing[0]:
                    con.execute(f"DELETE FROM {ref(name)} WHERE _key IN (SELECT _key FROM racing_drop)")
        if put_keys.num_rows:
            with registered(con, "racing_put", put_keys):
                con.execute(f"""INSERT INTO {ref(name)} BY NAME
                    SELECT * EXCLUDE (_seq) FROM racing_in
                    WHERE _key IN (SELECT _key FROM racing_put)
                    QUALIFY row_number() OVER (PARTITION BY _key ORDER BY data_creation_date DESC NULLS LAST,
                                               _seq DESC) = 1
                    ORDER BY {'race_date, ' if 'race_date' in incoming.column_names else ''}_key""")
        return out


def import_records(lake: Lake, raws: Sequence[bytes], *, targets: Sequence[Target] | None = None, attempts: int = 8,
                   message: str = "racing import", summary: LakeImportSummary | None = None) -> LakeImportSummary:
    """Decode ``raws`` (already validated) and merge them into the lake in one transaction; with
    ``targets`` (where each record is delivered: :func:`read_files`, :func:`targets_of`) the raw
    records go to ``jvdata_raw`` too, in the same transaction, for the replay."""
    summary = summary or LakeImportSummary()
    summary.records = len(raws)
    tables = incoming_tables(raws)
    hashes: list[str] = []
    if targets is not None:  # the tables' hashes, back in input order
        by_seq = {s: h for t in tables.values() for s, h in zip(t["_seq"].to_pylist(), t["_hash"].to_pylist())}
        hashes = [by_seq[i] for i in range(len(raws))]

    def body(con: duckdb.DuckDBPyConnection) -> tuple[tuple[dict[str, _Merged], int], bool]:
        created = ensure_tables(con, TABLES)
        merged = {name: merge_table(con, name, t) for name, t in sorted(tables.items())}
        added = merge_raw(con, raws, targets, hashes) if targets is not None else 0
        changed = any(m.inserted or m.deleted or m.replaced for m in merged.values()) or added > 0
        return (merged, added), created or changed

    done = write(lake, body, message=message, attempts=attempts)
    summary.snapshot, summary.attempts = done.snapshot, done.attempts
    merged, summary.raw_added = done.value
    counts: Counter[str] = Counter()
    for name, m in merged.items():
        summary.inserted += m.inserted
        summary.replaced += m.replaced
        summary.deleted += m.deleted
        summary.unchanged += m.unchanged
        if m.inserted:
            counts[name] = m.inserted
    summary.by_table = dict(sorted(counts.items()))
    return summary


def import_files(lake: Lake, paths: Sequence[Path], *, dataspec: str | None = None,
                 progress: Progress | None = None, attempts: int = 8) -> LakeImportSummary:
    """``kasoku racing import FILE... --lake LAKE``: read and validate all, then one transaction
    (tables and the raw records for the replay)."""
    raws, targets = read_files(paths, dataspec, progress)
    return import_records(lake, raws, targets=targets, attempts=attempts, summary=LakeImportSummary(files=len(paths)),
                          message=f"racing import files={len(paths)} records={len(raws)}")


__all__ = ["LakeImportSummary", "merge_raw", "targets_of", "import_files", "import_records", "incoming_tables", "merge_table",
           "read_files", "ensure_tables"]
