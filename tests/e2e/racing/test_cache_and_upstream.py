"""The upstream stays idle: coalescing, caching, TTLs, prefetch; JV-Link errors mapped to HTTP."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from fastapi import FastAPI

from kasoku.domains.racing.clients.com import ComClient
from kasoku.domains.racing.clients.scripted import ScriptedJVLink, Session
from kasoku.domains.racing.demo import DemoData
from kasoku.domains.racing.domain import RacingDomain
from kasoku.domains.racing.source import page_query
from kasoku.engine.keys import query_key
from tests.e2e.racing.conftest import Clock, CountingClient, make_app

RACE_DAY = "/api/v1/data/RACE?from_time=20240601&to_time=20240601"


async def _until(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_concurrent_identical_requests_make_one_upstream_call(
        client: httpx.AsyncClient, racing: tuple[FastAPI, RacingDomain], upstream: CountingClient) -> None:
    app, _ = racing
    engine = app.state.engine
    upstream.stored_gate = threading.Event()
    n = 8
    requests = [asyncio.ensure_future(client.get(RACE_DAY + "&limit=5")) for _ in range(n)]
    await _until(lambda: engine.flight.coalesced >= n - 1, "all requests joined one flight")
    upstream.stored_gate.set()
    answers = await asyncio.gather(*requests)
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert upstream.count("stored") == 1


async def test_different_pages_at_once_share_one_fetch(client: httpx.AsyncClient, upstream: CountingClient) -> None:
    upstream.stored_gate = threading.Event()
    requests = [asyncio.ensure_future(client.get(f"{RACE_DAY}&limit=10&offset={o}")) for o in range(0, 60, 10)]
    await _until(lambda: upstream.count("stored") >= 1, "the fetch started")
    await asyncio.sleep(0.01)
    upstream.stored_gate.set()
    answers = await asyncio.gather(*requests)
    assert [r.json()["offset"] for r in answers] == list(range(0, 60, 10))
    assert upstream.count("stored") == 1


async def test_repeats_are_cache_hits_until_the_ttl(client: httpx.AsyncClient, upstream: CountingClient,
                                                    clock: Clock) -> None:
    first = await client.get(RACE_DAY)
    assert first.headers["x-cache"] == "miss"
    for _ in range(5):
        again = await client.get(RACE_DAY)
        assert again.headers["x-cache"] == "hit" and again.content == first.content
    assert upstream.count("stored", "RACE") == 1  # (the realtime calls are prefetches)
    clock.now += 301  # RACE: 5 min in L1 (24 h in L2, none here)
    assert (await client.get(RACE_DAY)).headers["x-cache"] == "miss"
    assert upstream.count("stored", "RACE") == 2


async def test_realtime_ttl_is_the_seeds_minute(client: httpx.AsyncClient, upstream: CountingClient,
                                                demo: DemoData, clock: Clock) -> None:
    path = f"/api/v1/data/0B12?key={demo.race_ids[0]}"
    await client.get(path)
    clock.now += 59
    assert (await client.get(path)).headers["x-cache"] == "hit"
    clock.now += 2
    assert (await client.get(path)).headers["x-cache"] == "miss"
    assert upstream.count("realtime", "0B12") == 2


async def test_settings_policies_override_the_catalogue_ttl(tmp_path: Path, upstream: CountingClient,
                                                            clock: Clock) -> None:
    app, _ = make_app(tmp_path, upstream, clock, policies={"racing.RACE": {"ttl_l1": 10}})
    assert app.state.engine.dataset("racing.RACE").policy.ttl_l1 == 10
    assert app.state.engine.dataset("racing.RACE").policy.ttl_l2 == 86400
    assert app.state.engine.dataset("racing.0B31").policy.ttl_l1 == 60


async def test_prefetch_warms_realtime_pages_without_delaying_the_race_read(
        client: httpx.AsyncClient, racing: tuple[FastAPI, RacingDomain], upstream: CountingClient) -> None:
    app, domain = racing
    engine = app.state.engine
    upstream.realtime_gate = threading.Event()  # hold every prefetch in the upstream
    r = await client.get(RACE_DAY + "&limit=1")
    assert r.status_code == 200  # answered while the warms are still blocked
    assert domain.prefetch.stats()["pending"] > 0
    upstream.realtime_gate.set()
    await domain.prefetch.idle()
    races = sorted({key for key in _race_ids(app)}, reverse=True)[:12]  # newest first, capped per read
    assert len(races) == 12
    for race in races:
        for spec in ("0B12", "0B15", "0B31", "0B32"):
            entry = engine.l1.get(query_key(page_query(spec, key=race)))
            assert entry is not None, (spec, race)
    stats = domain.prefetch.stats()
    assert stats["started"] == stats["done"] == 48 and stats["failed"] == 0
    calls_before = upstream.count()
    odds = await client.get(f"/api/v1/realtime/odds/{races[0]}?type=win")
    assert odds.headers["x-cache"] == "hit" and odds.json()["records"][0]["record_type"] == "O1"
    assert upstream.count() == calls_before
    assert domain.prefetch.stats()["hit"] == 1
    metrics = (await client.get("/metrics")).text
    assert 'kasoku_prefetch_total{dataset="racing.0B31",outcome="hit"} 1.0' in metrics
    assert 'kasoku_prefetch_total{dataset="racing.0B12",outcome="done"} 12.0' in metrics


def _race_ids(app: FastAPI) -> list[str]:
    from kasoku.domains.racing.source import fetch_query

    entry = app.state.engine.l1.get(query_key(fetch_query("RACE", fromtime="20240601000000-20240601235959")))
    assert entry is not None
    return [r for r in entry.table().column("race_id").to_pylist() if r]


async def test_maintenance_is_503_with_retry_after(tmp_path: Path, clock: Clock) -> None:
    com = ComClient(lambda: ScriptedJVLink([Session(ret=-504)]), sid="KASOKU", call_timeout=5)
    app, _ = make_app(tmp_path, com, clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            r = await c.get(RACE_DAY)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "600"
    error = r.json()["error"]
    assert error["code"] == "UPSTREAM_UNAVAILABLE" and error["details"]["jvlink_code"] == -504


async def test_auth_error_is_502_and_no_data_is_an_empty_page(tmp_path: Path, clock: Clock) -> None:
    com = ComClient(lambda: ScriptedJVLink([Session(ret=-301), Session(ret=-1)]), sid="KASOKU", call_timeout=5)
    app, _ = make_app(tmp_path, com, clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            bad = await c.get(RACE_DAY)
            empty = await c.get("/api/v1/data/YSCH")
    assert bad.status_code == 502 and bad.json()["error"]["details"]["jvlink_code"] == -301
    assert empty.status_code == 200
    assert empty.json()["total_count"] == 0 and empty.json()["records"] == []
