"""Wire formats: one Arrow table (+ meta) in, bytes out. No pickle, ever.

The JSON and MessagePack bodies are objects: ``{**meta, <rows_key>: [rows...]}`` (rows under
``"data"`` unless a dataset says otherwise). Arrow IPC, CSV and Parquet carry only the rows
(meta goes to the schema metadata for Arrow/Parquet, where a client can read it).
Columns whose field metadata has ``kasoku.json = 1`` hold pre-serialised JSON (nested
per-record data); JSON embeds them as-is, MessagePack decodes them into maps.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgpack
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from kasoku.engine.arrow import json_columns

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "msgpack": "application/msgpack",
    "arrow": "application/vnd.apache.arrow.stream",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}



def rows_of(table: pa.Table, *, embed_json: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts; JSON-flagged columns turned into ``embed_json(text)`` when given."""
    rows = table.to_pylist()
    flagged = json_columns(table.schema)
    if flagged and embed_json is not None:
        for row in rows:
            for name in flagged:
                if row[name] is not None:
                    row[name] = embed_json(row[name])
    return rows


def json_default(value: Any) -> Any:
    """What orjson does not know: SQL DECIMAL (e.g. DuckDB's ``i * 0.25``) becomes a JSON number."""
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as MessagePack")


def encode_json(table: pa.Table, meta: dict[str, Any], rows_key: str) -> bytes:
    rows = rows_of(table, embed_json=orjson.Fragment)
    return orjson.dumps({**meta, rows_key: rows}, default=json_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def encode_msgpack(table: pa.Table, meta: dict[str, Any], rows_key: str) -> bytes:
    rows = rows_of(table, embed_json=orjson.loads)
    return msgpack.packb({**meta, rows_key: rows}, default=_msgpack_default, use_bin_type=True)


def _with_meta(table: pa.Table, meta: dict[str, Any]) -> pa.Table:
    if not meta:
        return table
    existing = dict(table.schema.metadata or {})
    existing[b"kasoku.meta"] = orjson.dumps(meta)
    return table.replace_schema_metadata(existing)


def encode_arrow(table: pa.Table, meta: dict[str, Any], rows_key: str) -> bytes:
    table = _with_meta(table, meta)
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _flat_for_csv(table: pa.Table) -> pa.Table:
    """CSV has no nested values: list, struct and map columns become JSON text (one cell each)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_nested(f.type):
            text = [None if v is None else orjson.dumps(v, default=json_default).decode()
                    for v in table.column(i).to_pylist()]
            table = table.set_column(i, pa.field(f.name, pa.string()), pa.array(text, pa.string()))
    return table


def encode_csv(table: pa.Table, meta: dict[str, Any], rows_key: str) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(_flat_for_csv(table), sink)
    return sink.getvalue()


def encode_parquet(table: pa.Table, meta: dict[str, Any], rows_key: str) -> bytes:
    sink = io.BytesIO()
    pq.write_table(_with_meta(table, meta), sink, compression="zstd")
    return sink.getvalue()


ENCODERS: dict[str, Callable[[pa.Table, dict[str, Any], str], bytes]] = {
    "json": encode_json,
    "msgpack": encode_msgpack,
    "arrow": encode_arrow,
    "csv": encode_csv,
    "parquet": encode_parquet,
}


def encode(table: pa.Table, meta: dict[str, Any], rows_key: str, fmt: str) -> bytes:
    return ENCODERS[fmt](table, meta, rows_key)
