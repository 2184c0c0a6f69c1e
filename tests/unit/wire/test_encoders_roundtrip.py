"""Random tables: every format decodes to the same rows (hypothesis)."""

from __future__ import annotations

import io
from typing import Any

import msgpack
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from kasoku.api.bodies import body_of
from kasoku.api import compression
from kasoku.api.encoders import encode
from kasoku.engine.entry import Entry

COLUMN_TYPES = {
    "int": (pa.int64(), st.integers(-(2**53), 2**53)),
    "float": (pa.float64(), st.floats(allow_nan=False, allow_infinity=False)),
    "text": (pa.string(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)),
    "flag": (pa.bool_(), st.booleans()),
}


@st.composite
def tables(draw: Any) -> pa.Table:
    n = draw(st.integers(0, 30))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_TYPES)), min_size=1, max_size=4))
    columns = {}
    for i, kind in enumerate(kinds):
        arrow_type, values = COLUMN_TYPES[kind]
        columns[f"c{i}_{kind}"] = pa.array(draw(st.lists(st.none() | values, min_size=n, max_size=n)), arrow_type)
    return pa.table(columns)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_every_format_decodes_to_the_same_rows(table: pa.Table) -> None:
    rows = table.to_pylist()
    assert orjson.loads(encode(table, {"m": 1}, "data", "json")) == {"m": 1, "data": rows}
    assert msgpack.unpackb(encode(table, {"m": 1}, "data", "msgpack")) == {"m": 1, "data": rows}
    assert ipc.open_stream(encode(table, {}, "data", "arrow")).read_all().to_pylist() == rows
    assert pq.read_table(io.BytesIO(encode(table, {}, "data", "parquet"))).to_pylist() == rows
    # CSV carries no types: read it back with the schema; "" and null stay apart (null is unquoted-empty)
    options = pacsv.ConvertOptions(column_types=table.schema, strings_can_be_null=True, quoted_strings_can_be_null=False)
    if table.num_rows:
        parse = pacsv.ParseOptions(ignore_empty_lines=False)  # one all-null column writes empty lines
        back = pacsv.read_csv(io.BytesIO(encode(table, {}, "data", "csv")), convert_options=options, parse_options=parse)
        assert back.to_pylist() == rows


@settings(max_examples=30, deadline=None)
@given(tables(), st.sampled_from(["br", "zstd", "gzip", "lz4"]))
def test_entry_bodies_are_made_once_and_decode(table: pa.Table, coding: str) -> None:
    entry = Entry.from_table(table, meta={}, tags=frozenset(), source="t", rows_key="data", created_at=0, ttl=60, stale_ttl=0)
    body = body_of(entry, "json", coding, min_compress=0)
    assert body_of(entry, "json", coding, min_compress=0) is body
    assert orjson.loads(compression.decompress(body.content, coding))["data"] == table.to_pylist()
    assert body.etag != body_of(entry, "json", "identity").etag


def test_small_bodies_are_not_compressed_and_share_the_identity_etag() -> None:
    entry = Entry.from_table(pa.table({"a": [1]}), meta={}, tags=frozenset(), source="t", rows_key="data",
                             created_at=0, ttl=60, stale_ttl=0)
    small = body_of(entry, "json", "br", min_compress=1024)
    assert small.encoding == "identity"
    assert small is body_of(entry, "json", "identity")


def test_decimal_columns_encode_as_numbers() -> None:
    from decimal import Decimal

    table = pa.table({"x": pa.array([Decimal("1.25"), None], pa.decimal128(5, 2))})
    assert orjson.loads(encode(table, {}, "data", "json"))["data"] == [{"x": 1.25}, {"x": None}]
    assert msgpack.unpackb(encode(table, {}, "data", "msgpack"))["data"] == [{"x": 1.25}, {"x": None}]
