"""The wire over HTTP (ASGI transport): formats, codings, caching headers, 304, 406, fast path."""

from __future__ import annotations

import io

import httpx
import msgpack
import orjson
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from kasoku.api import compression
from tests.e2e.wire.conftest import Clock
from tests.e2e.wire.memdomain import MemDomain, make_table

ROWS = "/v1/mem/rows?n=500"
EXPECTED = make_table(500).to_pylist()


async def raw_get(client: httpx.AsyncClient, url: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would otherwise decode codings)."""
    headers = {"accept-encoding": "identity", **headers}
    async with client.stream("GET", url, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


def decode_rows(fmt: str, body: bytes) -> list[dict[str, object]]:
    if fmt == "json":
        return orjson.loads(body)["data"]  # type: ignore[no-any-return]
    if fmt == "msgpack":
        return msgpack.unpackb(body)["data"]  # type: ignore[no-any-return]
    if fmt == "arrow":
        return ipc.open_stream(body).read_all().to_pylist()  # type: ignore[no-any-return]
    if fmt == "csv":
        return pacsv.read_csv(io.BytesIO(body)).to_pylist()  # type: ignore[no-any-return]
    return pq.read_table(io.BytesIO(body)).to_pylist()  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt, accept", [("json", "application/json"), ("msgpack", "application/msgpack"),
                                         ("arrow", "application/vnd.apache.arrow.stream"), ("csv", "text/csv"),
                                         ("parquet", "application/vnd.apache.parquet")])
async def test_same_rows_in_every_format_by_accept_and_by_param(client: httpx.AsyncClient, fmt: str, accept: str) -> None:
    by_accept, body = await raw_get(client, ROWS, accept=accept)
    assert by_accept.status_code == 200
    assert by_accept.headers["content-type"].startswith(accept)
    assert decode_rows(fmt, body) == EXPECTED
    by_param, body2 = await raw_get(client, f"{ROWS}&format={fmt}")
    assert decode_rows(fmt, body2) == EXPECTED


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "lz4"])
async def test_each_coding_decodes_to_the_identity_body(client: httpx.AsyncClient, coding: str) -> None:
    _, plain = await raw_get(client, ROWS, **{"accept-encoding": "identity"})
    response, packed = await raw_get(client, ROWS, **{"accept-encoding": f"{coding}, identity;q=0.1"})
    assert response.headers["content-encoding"] == coding
    assert len(packed) < len(plain)
    assert compression.decompress(packed, coding) == plain
    assert response.headers["vary"] == "Accept, Accept-Encoding"


async def test_small_bodies_stay_uncompressed(client: httpx.AsyncClient) -> None:
    response, body = await raw_get(client, "/v1/mem/rows?n=2", **{"accept-encoding": "br, gzip"})
    assert "content-encoding" not in response.headers
    assert orjson.loads(body)["n"] == 2


async def test_406_envelope_lists_supported_types(client: httpx.AsyncClient) -> None:
    response = await client.get(ROWS, headers={"accept": "image/png"})
    assert response.status_code == 406
    error = response.json()["error"]
    assert error["code"] == "NOT_ACCEPTABLE"
    assert "application/vnd.apache.arrow.stream" in error["details"]["supported"]
    bad_param = await client.get(f"{ROWS}&format=xml")
    assert bad_param.status_code == 406
    assert "text/csv; charset=utf-8" in bad_param.json()["error"]["details"]["supported"]


async def test_etag_and_304(client: httpx.AsyncClient, domain: MemDomain) -> None:
    first = await client.get(ROWS)
    etag = first.headers["etag"]
    assert first.headers["x-cache"] == "miss"
    again = await client.get(ROWS, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = await client.get(ROWS, headers={"if-none-match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    other_coding = await client.get(ROWS, headers={"accept-encoding": "gzip"})
    assert other_coding.headers["etag"] != etag  # strong ETags name exact bytes
    assert domain.source.runs == 1


async def test_cache_control_age_and_private(client: httpx.AsyncClient, clock: Clock) -> None:
    first = await client.get(ROWS)
    assert first.headers["cache-control"] == "public, max-age=600"
    assert first.headers["age"] == "0"
    clock.now += 100
    later = await client.get(ROWS, headers={"authorization": "Bearer x"})
    assert later.headers["cache-control"] == "private, max-age=500"
    assert later.headers["age"] == "100"
    assert later.headers["x-cache"] == "hit"


async def test_fast_path_answers_repeats_identically(client: httpx.AsyncClient, app: FastAPI) -> None:
    slow = await client.get(ROWS, headers={"accept-encoding": "gzip"})  # full route: validates, remembers
    fast = await client.get(ROWS, headers={"accept-encoding": "gzip"})  # answered by the fast path
    assert len(app.state.remember_query.__self__) == 1
    assert fast.content == slow.content
    for name in ("etag", "content-type", "content-encoding", "vary", "cache-control"):
        assert fast.headers[name] == slow.headers[name]
    assert fast.headers["x-cache"] == "hit"
    # a new coding for the same entry is made by the full route, then served fast too
    assert (await client.get(ROWS, headers={"accept-encoding": "br"})).headers["content-encoding"] == "br"
    # a bad Accept still gets the 406 envelope, not a fast answer
    assert (await client.get(ROWS, headers={"accept": "image/png"})).status_code == 406
    stats = app.state.engine.stats()["datasets"]["mem"]
    assert stats["hit"] == 2 and stats["miss"] == 1  # the 406 never reached the engine


async def test_invalid_params_are_422_and_change_nothing(client: httpx.AsyncClient, domain: MemDomain) -> None:
    response = await client.get("/v1/mem/rows?n=-1")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert domain.source.runs == 0


async def test_openapi_still_lists_route_params(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    names = {p["name"] for p in spec["paths"]["/v1/mem/rows"]["get"]["parameters"]}
    assert {"n", "slow", "format", "user_id"} <= names
    assert "/v1/batch" in spec["paths"]
