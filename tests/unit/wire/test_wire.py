import io

import msgpack
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from kasoku.api.negotiation import NotAcceptable, choose_encoding, choose_format
from kasoku.api import compression
from kasoku.api.encoders import encode

TABLE = pa.table({"track": ["a", "b"], "plays": [3, 1], "minutes": [1.5, 0.25]})


def test_every_format_carries_the_same_rows() -> None:
    rows = TABLE.to_pylist()
    assert orjson.loads(encode(TABLE, {"m": 1}, "data", "json")) == {"m": 1, "data": rows}
    assert msgpack.unpackb(encode(TABLE, {"m": 1}, "data", "msgpack")) == {"m": 1, "data": rows}
    assert ipc.open_stream(encode(TABLE, {}, "data", "arrow")).read_all().to_pylist() == rows
    assert pacsv.read_csv(io.BytesIO(encode(TABLE, {}, "data", "csv"))).to_pylist() == rows
    assert pq.read_table(io.BytesIO(encode(TABLE, {}, "data", "parquet"))).to_pylist() == rows


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "lz4", "identity"])
def test_compression_round_trips(coding: str) -> None:
    data = b"kasoku " * 1000
    assert compression.decompress(compression.compress(data, coding), coding) == data


def test_format_negotiation() -> None:
    assert choose_format(None, None) == "json"
    assert choose_format("application/msgpack", None) == "msgpack"
    assert choose_format("text/csv;q=0.5, application/vnd.apache.arrow.stream", None) == "arrow"
    assert choose_format("*/*", None) == "json"
    assert choose_format("application/json", "parquet") == "parquet"
    with pytest.raises(NotAcceptable):
        choose_format("image/png", None)
    with pytest.raises(NotAcceptable):
        choose_format(None, "xml")


def test_encoding_negotiation() -> None:
    assert choose_encoding(None) == "identity"
    assert choose_encoding("gzip, deflate, br") == "br"
    assert choose_encoding("gzip;q=1.0, br;q=0.5") == "gzip"
    assert choose_encoding("zstd, lz4") == "zstd"
    assert choose_encoding("*;q=0.1, br;q=0") == "zstd"
    assert choose_encoding("deflate") == "identity"
