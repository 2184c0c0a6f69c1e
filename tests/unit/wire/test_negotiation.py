"""Negotiation edge cases: q-values, wildcards, zero q, bad q, ?format= precedence, streams."""

from __future__ import annotations

import pytest

from kasoku.api.negotiation import NotAcceptable, choose_encoding, choose_format, parse_header
from kasoku.api.streaming import choose_stream_format


@pytest.mark.parametrize("accept, expected", [
    (None, "json"), ("", "json"), ("*/*", "json"), ("application/*", "json"), ("text/*", "csv"),
    ("text/csv; charset=utf-8", "csv"), ("APPLICATION/MSGPACK", "msgpack"), ("application/x-msgpack", "msgpack"),
    ("application/json;q=0.5, application/vnd.apache.parquet", "parquet"),
    ("application/json;q=0, */*;q=0.1", "msgpack"),  # json refused, anything else: our next preference
    ("image/png, text/csv;q=0.2", "csv"),
    ("application/vnd.apache.arrow.stream;q=0.9, application/msgpack;q=0.9", "msgpack"),  # tie: server order
])
def test_format(accept: str | None, expected: str) -> None:
    assert choose_format(accept, None) == expected


def test_format_param_wins_and_is_case_insensitive() -> None:
    assert choose_format("text/csv", "ARROW") == "arrow"


@pytest.mark.parametrize("accept", ["image/png", "application/json;q=0", "text/html, application/xml"])
def test_not_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable) as info:
        choose_format(accept, None)
    assert info.value.status == 406
    assert "application/json" in info.value.details["supported"]


@pytest.mark.parametrize("header, expected", [
    (None, "identity"), ("", "identity"), ("identity", "identity"), ("gzip", "gzip"), ("lz4", "lz4"),
    ("gzip, br", "br"), ("gzip;q=1, br;q=0.9", "gzip"), ("*", "br"), ("*;q=0.5, zstd;q=0.6", "zstd"),
    ("br;q=0, *", "zstd"), ("gzip;q=abc, lz4", "lz4"), ("BR", "br"), ("deflate, compress", "identity"),
])
def test_encoding(header: str | None, expected: str) -> None:
    assert choose_encoding(header) == expected


def test_parse_header() -> None:
    assert parse_header("a;q=0.5 , b;level=1, ,c;q=x") == [("a", 0.5), ("b", 1.0), ("c", 0.0)]


@pytest.mark.parametrize("accept, param, expected", [
    (None, None, "ndjson"), ("text/event-stream", None, "sse"), ("application/json", None, "json"),
    ("application/x-ndjson;q=0.5, application/json", None, "json"), ("*/*", None, "ndjson"),
    ("text/event-stream", "json", "json"),
])
def test_stream_format(accept: str | None, param: str | None, expected: str) -> None:
    assert choose_stream_format(accept, param) == expected


def test_stream_format_refused() -> None:
    with pytest.raises(NotAcceptable):
        choose_stream_format("text/csv", None)
    with pytest.raises(NotAcceptable):
        choose_stream_format(None, "csv")
