"""The canonical form of an answer in the engine: Arrow IPC stream bytes (what L1 and Redis
hold), and the one column convention sources and the wire share. Nothing here is HTTP."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as ipc

# Field metadata of a column holding pre-serialised JSON (nested per-record data): the JSON
# wire embeds it as-is, MessagePack decodes it into maps (api/encoders.py).
JSON_COLUMN_FLAG = b"kasoku.json"


def json_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.metadata and f.metadata.get(JSON_COLUMN_FLAG) == b"1"]


def table_to_ipc(table: pa.Table) -> bytes:
    """The canonical payload of a cache entry: Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_ipc(payload: bytes) -> pa.Table:
    """Zero-copy: the table's buffers point into ``payload``."""
    return ipc.open_stream(pa.py_buffer(payload)).read_all()
