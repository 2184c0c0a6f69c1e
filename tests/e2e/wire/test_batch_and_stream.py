"""Batch (per-item status, 413, cache first) and streaming shapes, incl. a real uvicorn server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import msgpack
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from tests.e2e.wire.memdomain import MemDomain


async def test_batch_answers_each_item_on_its_own(client: httpx.AsyncClient, domain: MemDomain) -> None:
    await client.get("/v1/mem/rows?n=4")  # warm one entry: the batch serves it from cache
    items = [{"route": "/v1/mem/rows", "params": {"n": 4}},
             {"route": "/v1/mem/rows", "params": {"n": -5}},
             {"route": "/v1/nowhere", "params": {}},
             {"route": "/v1/mem/rows", "params": {"n": 7, "slow": True}},
             {"route": "/v1/mem/rows", "params": {"n": 7, "format": "csv"}}]
    response = await client.post("/v1/batch", json=items)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 422, 404, 504, 200]
    assert results[0]["cache"] == "hit" and results[4]["cache"] == "miss"
    assert results[0]["data"]["data"] == [{"i": i, "name": f"track {i}", "minutes": i * 0.25, "skipped": i % 3 == 0}
                                          for i in range(4)]
    assert results[1]["error"]["code"] == "VALIDATION_ERROR"
    assert results[3]["error"]["code"] == "QUERY_TIMEOUT"
    assert len(results[4]["data"]["data"]) == 7
    # the batch shares the GET routes' cache entries
    assert (await client.get("/v1/mem/rows?n=7")).headers["x-cache"] == "hit"


async def test_a_query_string_in_a_batch_route_is_refused_not_dropped(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batch", json=[{"route": "/v1/mem/rows?n=2", "params": {}}])
    result = response.json()["results"][0]
    assert result["status"] == 400 and "query string" in result["error"]["message"]


async def test_batch_in_msgpack(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batch", json=[{"route": "/v1/mem/rows", "params": {"n": 2}}],
                                 headers={"accept": "application/msgpack"})
    assert response.headers["content-type"] == "application/msgpack"
    assert msgpack.unpackb(response.content)["results"][0]["data"]["n"] == 2


async def test_batch_too_large_is_413(client: httpx.AsyncClient, domain: MemDomain) -> None:
    items = [{"route": "/v1/mem/rows", "params": {"n": i}} for i in range(6)]
    response = await client.post("/v1/batch", json=items)
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"max_items": 5, "items": 6}
    assert domain.source.runs == 0


async def test_batch_body_must_be_a_list_of_items(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batch", json={"route": "/v1/mem/rows"})
    assert response.status_code == 422


async def test_stream_ndjson_json_and_sse_shapes(client: httpx.AsyncClient) -> None:
    ndjson = await client.get("/v1/mem/rows/stream?n=2500&batch=1000")
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    lines = ndjson.content.splitlines()
    assert len(lines) == 2500 and orjson.loads(lines[-1])["i"] == 2499
    as_json = await client.get("/v1/mem/rows/stream?n=2500&batch=1000", headers={"accept": "application/json"})
    assert [r["i"] for r in as_json.json()] == list(range(2500))
    empty = await client.get("/v1/mem/rows/stream?n=0&format=json")
    assert empty.json() == []
    sse = await client.get("/v1/mem/rows/stream?n=2500&batch=1000", headers={"accept": "text/event-stream"})
    events = [e for e in sse.text.split("\n\n") if e]
    kinds = [e.split("\n")[0] for e in events]
    assert kinds == ["event: data"] * 3 + ["event: complete"]
    assert orjson.loads(events[-1].split("data: ", 1)[1]) == {"total": 2500}
    rows = [r for e in events[:-1] for r in orjson.loads(e.split("data: ", 1)[1])]
    assert len(rows) == 2500


async def test_stream_format_not_acceptable(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/mem/rows/stream?n=3", headers={"accept": "text/csv"})
    assert response.status_code == 406


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task


async def test_real_server_streams_in_chunks(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as c:
        async with c.stream("GET", "/v1/mem/rows/stream?n=50000&batch=5000") as response:
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            chunks = [chunk async for chunk in response.aiter_raw()]
        assert len(chunks) > 1
        assert b"".join(chunks).count(b"\n") == 50_000
        async with c.stream("GET", "/v1/mem/rows/stream?n=20000&batch=2000&format=sse") as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert body.endswith(b'event: complete\ndata: {"total":20000}\n\n')


async def test_client_leaving_early_stops_the_query(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as c:
        async with c.stream("GET", "/v1/mem/rows/stream?n=5000000&batch=1000") as response:
            async for _chunk in response.aiter_raw():
                break  # leave after the first chunk
        # the server is still answering (the producer thread gave its cursor back)
        assert (await c.get("/v1/mem/rows/stream?n=3&format=json")).json()[2]["i"] == 2


@pytest.mark.parametrize(("accept", "expected"), [
    ("application/json;q=0.1, application/msgpack", "application/msgpack"),
    ("application/msgpack;q=0.2, application/json;q=0.9", "application/json"),
    ("application/msgpack;q=0, */*", "application/json"),
    ("application/x-msgpack", "application/msgpack"),
    ("text/csv, application/msgpack;q=0.5", "application/msgpack"),
])
async def test_batch_negotiates_by_q_value(client: httpx.AsyncClient, accept: str, expected: str) -> None:
    response = await client.post("/v1/batch", json=[{"route": "/v1/mem/rows", "params": {"n": 2}}],
                                 headers={"accept": accept})
    assert response.status_code == 200 and response.headers["content-type"] == expected


async def test_batch_refuses_what_it_cannot_give_with_406(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/batch", json=[{"route": "/v1/mem/rows", "params": {"n": 2}}],
                                 headers={"accept": "text/csv"})
    assert response.status_code == 406 and response.json()["error"]["code"] == "NOT_ACCEPTABLE"
    assert response.json()["error"]["details"]["supported"] == ["application/json", "application/msgpack"]
