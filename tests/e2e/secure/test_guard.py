"""The guard's checks over HTTP: Host, Origin, sizes, rate, HEAD, health."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import pytest
from fastapi import FastAPI

from kasoku.config import LimitSettings
from kasoku.keys import KeyStore
from tests.e2e.secure.conftest import BASE, bearer

TOP = "/v1/listening/top-tracks?limit=3"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


async def test_a_foreign_host_is_refused(client: httpx.AsyncClient) -> None:
    refused = await client.get(TOP, headers={"host": "evil.example"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "INVALID_HOST"
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert (await client.get(TOP, headers={"host": host})).status_code == 200, host


async def test_allowed_hosts_from_settings(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(allowed_hosts=["kasoku.example"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://kasoku.example") as c:
        assert (await c.get("/health/live")).status_code == 200
        assert (await c.get("/health/live", headers={"host": "127.0.0.1"})).status_code == 400


@pytest.mark.parametrize("origin,status", [("null", 403), ("http://evil.example", 403), ("http://127.0.0.1", 200),
                                           ("http://localhost:3000", 403)])
async def test_mcp_origin_allowlist(client: httpx.AsyncClient, origin: str, status: int) -> None:
    response = await client.post("/mcp", json=PING, headers={"origin": origin})
    assert response.status_code == status, response.text


async def test_allowed_origins_and_cors_from_settings(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(allowed_origins=["http://localhost:3000"], cors_origins=["https://dash.example"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        assert (await c.post("/mcp", json=PING, headers={"origin": "http://localhost:3000"})).status_code == 200
        preflight = await c.options(TOP, headers={"origin": "https://dash.example",
                                                  "access-control-request-method": "GET"})
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        simple = await c.get("/health/live", headers={"origin": "https://dash.example"})
        assert simple.headers["access-control-allow-origin"] == "https://dash.example"
        other = await c.get("/health/live", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"origin": "https://dash.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_sizes_are_bounded(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(limits=LimitSettings(max_body_bytes=1000, max_header_bytes=2048, max_query_bytes=200,
                                        max_query_params=5, rate=""))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        body = await c.post("/v1/batch", content=b"[" + b" " * 2000 + b"]", headers={"content-type": "application/json"})
        assert body.status_code == 413 and body.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks():  # no Content-Length: counted while read
            for _ in range(5):
                yield b" " * 400

        chunked = await c.post("/v1/batch", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        small = await c.post("/v1/batch", content=b"[]", headers={"content-type": "application/json"})
        assert small.status_code == 200
        header = await c.get(TOP, headers={"x-junk": "a" * 3000})
        assert header.status_code == 431
        query = await c.get("/v1/listening/search?q=" + "a" * 300)
        assert query.status_code == 414
        params = await c.get("/v1/listening/top-tracks?" + "&".join(f"p{i}=1" for i in range(6)))
        assert params.status_code == 400 and params.json()["error"]["code"] == "TOO_MANY_PARAMETERS"


async def test_per_key_rate_limit_is_429_with_retry_after(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(limits=LimitSettings(rate="5/minute"))
    keys: KeyStore = app.state.authenticator.keys
    _a, one = keys.create("u1")
    _b, two = keys.create("u2")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
        statuses = [(await c.get(TOP, headers=bearer(one))).status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        limited = await c.get(TOP, headers=bearer(one))
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await c.get(TOP, headers=bearer(two))).status_code == 200  # per key
        assert (await c.get("/health/live")).status_code == 200  # probes are never limited


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    get = await client.get(TOP)
    for _ in range(2):  # the full route, then the fast path
        head = await client.head(TOP)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
        assert head.headers["etag"] == get.headers["etag"]
    assert (await client.head("/health/live")).status_code == 200


async def test_liveness_and_readiness(client: httpx.AsyncClient, app: FastAPI) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200 and live.json()["ok"] is True
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["domains"]["listening"]["ok"] is True
    app.state.domains[0].pool.close()  # the DuckDB pool is gone: not ready
    not_ready = await client.get("/health/ready")
    assert not_ready.status_code == 503 and not_ready.json()["ok"] is False
    assert not_ready.headers["retry-after"]
    assert (await client.get("/health/live")).status_code == 200



async def test_websocket_origin_and_key(make_app: Callable[..., FastAPI]) -> None:
    import asyncio

    import uvicorn
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from tests.services import free_port

    app = make_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    url = f"ws://127.0.0.1:{port}/api/v1/realtime/ws/odds/2024060105030101"
    try:
        for origin in ("null", "http://evil.example"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, origin=origin):  # type: ignore[arg-type]
                    pass
            assert refused.value.response.status_code == 403
        async with connect(url, origin=f"http://127.0.0.1:{port}") as ws:  # type: ignore[arg-type]
            assert orjson.loads(await ws.recv())["type"] in ("odds", "error")
        _k, secret = app.state.authenticator.keys.create("u1")
        with pytest.raises(InvalidStatus):
            async with connect(url):
                pass
        async with connect(url, additional_headers={"X-API-Key": secret}) as ws:
            assert orjson.loads(await ws.recv())["type"] in ("odds", "error")
    finally:
        server.should_exit = True
        await task
