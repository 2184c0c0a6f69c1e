"""The listening API over HTTP (ASGI transport, real lake + DuckDB pool, app lifespan run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.service import build_app
from tests.plays import load_lake, make_plays

TOKEN = "s3cret-admin"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {m: make_plays(m, 300, seed=i) for i, m in enumerate(["2024-01", "2024-02", "2024-03"])}, rollups=False)
    return build_app(Settings(lake=str(lake_dir), user_id="u1", admin_token=TOKEN))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


@pytest.mark.parametrize("path", ["top-tracks", "top-artists", "stats", "hours", "search?q=a", "plays"])
async def test_every_route_answers_rows_under_data(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/v1/listening/{path}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["data"], list) and body["data"]


async def test_miss_then_hit_with_identical_bytes(client: httpx.AsyncClient) -> None:
    url = "/v1/listening/top-tracks?start=2024-01-01&end=2024-02-29&limit=5"
    first = await client.get(url)
    second = await client.get(url)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert first.headers["x-kasoku-source"] == "raw"
    rows = first.json()["data"]
    assert len(rows) == 5 and set(rows[0]) == {"track_name", "artist", "play_count", "total_minutes"}
    counts = [r["play_count"] for r in rows]
    assert counts == sorted(counts, reverse=True)


async def test_bad_parameters_get_the_error_envelope(client: httpx.AsyncClient) -> None:
    backwards = await client.get("/v1/listening/top-tracks?start=2024-03-01&end=2024-01-01")
    assert backwards.status_code == 400
    assert backwards.json()["error"]["code"] == "INVALID_PARAMETER"
    assert "backwards" in backwards.json()["error"]["message"]
    for bad in ["limit=0", "limit=101", "start=yesterday", "granularity=year"]:
        response = await client.get(f"/v1/listening/{'stats' if 'granularity' in bad else 'top-tracks'}?{bad}")
        assert response.status_code == 422, bad
        assert set(response.json()["error"]) == {"code", "message", "details"}
    missing = await client.get("/v1/listening/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_admin_invalidate_needs_the_token_and_clears(client: httpx.AsyncClient) -> None:
    url = "/v1/listening/stats?granularity=month"
    await client.get(url)
    assert (await client.post("/admin/invalidate")).status_code == 401
    assert (await client.post("/admin/invalidate", headers={"Authorization": "Bearer wrong"})).status_code == 401
    ok = await client.post("/admin/invalidate", headers={"Authorization": f"Bearer {TOKEN}"}, json={"tags": ["month:2024-02"]})
    assert ok.status_code == 200
    # stats without a range depends on every month (open range): a month tag must not spare it...
    assert (await client.get(url)).headers["x-cache"] == "hit"
    await client.post("/admin/invalidate", headers={"Authorization": f"Bearer {TOKEN}"},
                      json={"tags": ["month:2024-02", "listening:open-range"]})
    assert (await client.get(url)).headers["x-cache"] == "miss"


async def test_scoped_invalidation_spares_other_months(client: httpx.AsyncClient) -> None:
    january = "/v1/listening/top-tracks?start=2024-01-01&end=2024-01-31"
    march = "/v1/listening/top-tracks?start=2024-03-01&end=2024-03-31"
    await client.get(january)
    await client.get(march)
    await client.post("/admin/invalidate", headers={"Authorization": f"Bearer {TOKEN}"}, json={"tags": ["month:2024-03"]})
    assert (await client.get(january)).headers["x-cache"] == "hit"
    assert (await client.get(march)).headers["x-cache"] == "miss"


async def test_health_openapi_and_metrics(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["ok"] is True and health["domains"]["listening"]["duckdb"]["ok"] is True
    spec = (await client.get("/openapi.json")).json()
    params = {p["name"] for p in spec["paths"]["/v1/listening/top-tracks"]["get"]["parameters"]}
    assert {"start", "end", "limit", "user_id", "format"} <= params
    await client.get("/v1/listening/hours")
    metrics = (await client.get("/metrics")).text
    assert "kasoku_source_runs_total" in metrics and "kasoku_http_requests_total" in metrics


async def test_formats_agree(client: httpx.AsyncClient) -> None:
    import msgpack

    url = "/v1/listening/top-artists?limit=3"
    as_json = (await client.get(url)).json()["data"]
    as_msgpack = msgpack.unpackb((await client.get(url, headers={"Accept": "application/msgpack"})).content)["data"]
    assert as_json == as_msgpack
    gz = await client.get(url, headers={"Accept-Encoding": "br"})
    assert orjson.loads(gz.content)["data"] == as_json  # httpx decodes br transparently


async def test_query_past_its_deadline_is_504_and_the_pool_stays_healthy(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {"2024-01": make_plays("2024-01", 50)}, rollups=False)
    # A deadline no query can meet: the pool interrupts it and answers QueryTimeout.
    app = build_app(Settings(lake=str(lake_dir), user_id="u1", query_timeout=1e-9))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            response = await c.get("/v1/listening/top-tracks")
            assert response.status_code == 504
            assert response.json()["error"]["code"] == "QUERY_TIMEOUT"

            health = (await c.get("/health")).json()
            assert health["domains"]["listening"]["duckdb"]["ok"] is True
            assert health["domains"]["listening"]["duckdb"]["timeouts"] >= 1


async def test_readiness_does_not_queue_behind_a_busy_query_pool(tmp_path: Path) -> None:
    """Every query worker busy: readiness still answers at once (its own probe connection) and
    says ready — a saturated pool is slow, not broken."""
    import asyncio
    import time

    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {"2024-01": make_plays("2024-01", 50)}, rollups=False)
    app = build_app(Settings(lake=str(lake_dir), user_id="u1", duckdb_workers=1, health_interval=0.2))
    async with app.router.lifespan_context(app):
        listening = next(d for d in app.state.domains if d.name == "listening")
        busy = asyncio.create_task(listening.pool.run(lambda cur: time.sleep(4.0), timeout=10))
        await asyncio.sleep(2.5)  # the background SELECT 1 has waited past its 2 s deadline by now
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            ready = await c.get("/health/ready")
            answered_while_busy = not busy.done()  # it did not wait for the only worker
        await busy
        assert ready.status_code == 200, ready.text
        body = ready.json()["domains"]["listening"]
        assert body["ok"] is True and body["duckdb"].get("saturated") is True, body
        assert answered_while_busy


async def test_plays_stream_ndjson_and_sse_cover_every_play_in_order(client: httpx.AsyncClient) -> None:
    ndjson = await client.get("/v1/listening/plays/stream?start=2024-01-01&end=2024-03-31&format=ndjson")
    assert ndjson.status_code == 200
    rows = [orjson.loads(line) for line in ndjson.content.splitlines() if line]
    assert len(rows) == 900
    times = [r["played_at"] for r in rows]
    assert times == sorted(times)
    sse = await client.get("/v1/listening/plays/stream?start=2024-02-01&end=2024-02-29",
                           headers={"Accept": "text/event-stream"})
    events = [block for block in sse.text.split("\n\n") if block.strip()]
    assert events[-1].startswith("event: complete")
    assert orjson.loads(events[-1].split("data: ", 1)[1])["total"] == 300


async def test_files_missing_under_the_server_get_clear_errors(app: FastAPI) -> None:
    import os

    lake = app.state.domains[0].lake
    month = os.path.join(lake.data_path, "main", "plays", "year=2024", "month=1")
    for name in os.listdir(month):
        os.remove(os.path.join(month, name))  # the data vanished under the server (e.g. a manual cleanup)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            answer = await c.get("/v1/listening/top-tracks?start=2024-01-01&end=2024-01-31")
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
            assert "missing" in answer.json()["error"]["message"] and answer.headers["retry-after"] == "5"
            # A stream failing before its first row still gets a status and the envelope, not a 200.
            streamed = await c.get("/v1/listening/plays/stream?start=2024-01-01&end=2024-01-31&format=ndjson")
            assert streamed.status_code == 500 and streamed.json()["error"]["code"] == "INTERNAL_ERROR"
