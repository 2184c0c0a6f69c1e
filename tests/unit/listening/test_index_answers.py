"""The index answers' arithmetic and JSON text equal DuckDB's, value for value."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasoku.domains.listening import index_answers as ia


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    return c


def test_minutes_round_as_duckdb_does(con: duckdb.DuckDBPyConnection) -> None:
    rng = np.random.default_rng(7)
    ms = np.concatenate([rng.integers(0, 10**13, 200_000), rng.integers(0, 10**6, 200_000),
                         np.arange(0, 600_000, 3), np.array([0, 1, 299, 300, 301, 599, 600, 601, 2**52])]).astype(np.int64)
    data = pa.table({"ms": ms})  # noqa: F841 (read by DuckDB's replacement scan)
    expected = con.execute("SELECT round(ms / 60000.0, 2) AS m FROM data").fetchnumpy()["m"]
    assert np.array_equal(ia.minutes(ms), expected)


TEXT = st.text(alphabet=st.one_of(st.characters(min_codepoint=0, max_codepoint=0x7F),
                                  st.sampled_from(list("éÓ日本語ガ\u2028\u2029\U0001F3B5"))), max_size=20)


@settings(max_examples=200, deadline=None)
@given(text=TEXT, number=st.integers(-(2**62), 2**62), ms=st.integers(0, 10**13),
       instant=st.integers(0, 4_102_444_800_000_000), nothing=st.none())
def test_json_text_as_duckdb_writes_it(text: str, number: int, ms: int, instant: int, nothing: None) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    minutes = float(ia.minutes(np.array([ms]))[0])
    expected = con.execute(
        "SELECT CAST(to_json({'s': $1::VARCHAR, 'n': $2::BIGINT, 'm': round($3::BIGINT / 60000.0, 2), "
        "'t': make_timestamptz($4::BIGINT), 'x': $5::VARCHAR, 'l': [{'a': $1::VARCHAR}], 'e': []::INTEGER[]}) AS VARCHAR)",
        [text, number, ms, instant, nothing]).fetchone()[0]
    got = ia.to_json({"s": text, "n": number, "m": minutes, "t": ia.Instant(instant), "x": nothing, "l": [{"a": text}], "e": []})
    assert got == expected
