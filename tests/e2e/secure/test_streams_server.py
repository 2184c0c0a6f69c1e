"""Streams under limits, against a real uvicorn server: a stalled reader never takes the
queries' DuckDB workers, streams are counted per key, and a stalled stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from kasoku.config import LimitSettings, Settings
from tests.plays import load_lake
from kasoku.service import build_app
from tests.plays import make_plays
from tests.services import free_port


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    lake = tmp_path / "lake"
    months = {f"2023-{m:02d}": make_plays(f"2023-{m:02d}", 20_000, seed=m) for m in range(1, 7)}
    load_lake(lake, months)
    settings = Settings(lake=str(lake), state=tmp_path / "state", user_id="u1", duckdb_workers=1, query_timeout=3.0,
                        limits=LimitSettings(streams_per_key=1, streams_total=2, stream_workers=1, rate=""))
    app = build_app(settings)
    _key, secret = app.state.authenticator.keys.create("u1")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", secret
    finally:
        server.should_exit = True
        await task


async def test_a_stalled_stream_holds_no_query_worker_and_counts_against_its_key(served: tuple[str, str]) -> None:
    url, secret = served
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as stalled, \
            httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as other:
        async with stalled.stream("GET", "/v1/listening/plays/stream?format=ndjson") as response:
            assert response.status_code == 200
            await response.aiter_raw().__anext__()  # one chunk, then stop reading
            second = await other.get("/v1/listening/plays/stream?start=2023-01-01&end=2023-01-02")
            assert second.status_code == 429 and second.headers["retry-after"]
            assert second.json()["error"]["code"] == "RATE_LIMITED"
            # the one query worker is free: the stream runs on workers of its own
            query = await other.get("/v1/listening/top-tracks?limit=3")
            assert query.status_code == 200 and query.json()["data"]
            # query_timeout (3 s) bounds each chunk: the stalled stream is ended and its slot given back
            for _ in range(100):
                again = await other.get("/v1/listening/plays/stream?start=2023-01-01&end=2023-01-01")
                if again.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 200
