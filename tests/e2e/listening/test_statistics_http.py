"""The statistics routes over HTTP: shapes, zone in envelope/header/key, 404 pages, batch and MCP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.domains.listening.schema import EPISODES_SCHEMA
from kasoku.domains.listening.ingest import import_tables
from kasoku.lake.ducklake import Lake
from kasoku.service import build_app
from tests.plays import make_plays

MONTHS = ["2023-12", "2024-01", "2024-02", "2024-03"]


def _episodes() -> pa.Table:
    from datetime import datetime, timezone

    rows = [("e1", "Ep 1", "Rebuild"), ("e2", "Ep 2", "Rebuild"), ("e3", "Ep 9", "Other")]
    return pa.table({"play_id": [f"p{i}" for i in range(3)], "user_id": ["u1"] * 3,
                     "played_at": [datetime(2024, 1, 2 + i, tzinfo=timezone.utc) for i in range(3)],
                     "ms_played": [600_000, 1_200_000, 60_000], "kind": ["episode"] * 3, "uri": [r[0] for r in rows],
                     "title": [r[1] for r in rows], "show_name": [r[2] for r in rows], "platform": [None] * 3,
                     "source": ["extended"] * 3}, schema=EPISODES_SCHEMA)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    lake_dir = tmp_path / "lake"
    plays = {m: make_plays(m, 300, seed=i) for i, m in enumerate(MONTHS)}
    import_tables(Lake(str(lake_dir)), pa.concat_tables(list(plays.values())), episodes=_episodes())
    return build_app(Settings(lake=str(lake_dir), user_id="u1",
                              listening={"users": {"u1": {"tz": "Asia/Tokyo"}}}))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


NEW = ["top-albums", "episodes", "episodes?kind=episodes", "overview?start=2024-02-01&end=2024-02-29", "streaks",
       "discoveries?start=2023-12-01&end=2024-03-31", "discoveries?kind=artists", "years/2024"]


@pytest.mark.parametrize("path", NEW)
async def test_new_routes_answer_rows_with_the_zone(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"/v1/listening/{path}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tz"] == "Asia/Tokyo" and body["min_ms"] == 0  # the user's zone from settings
    assert response.headers["x-kasoku-time-zone"] == "Asia/Tokyo"
    assert isinstance(body["data"], list) and body["data"]


async def test_zone_and_min_ms_are_part_of_the_key(client: httpx.AsyncClient) -> None:
    tokyo = await client.get("/v1/listening/hours")
    utc = await client.get("/v1/listening/hours?tz=UTC")
    assert utc.headers["x-cache"] == "miss" and utc.json()["tz"] == "UTC"
    assert tokyo.json()["data"] != utc.json()["data"]
    strict = await client.get("/v1/listening/hours?tz=UTC&min_ms=30000")
    assert strict.headers["x-cache"] == "miss"
    assert sum(r["play_count"] for r in strict.json()["data"]) < sum(r["play_count"] for r in utc.json()["data"])
    bad = await client.get("/v1/listening/top-albums?tz=Asia/Tokio")
    assert bad.status_code == 400 and "Asia/Tokio" in bad.json()["error"]["message"]


async def test_year_in_review_sections_are_json(client: httpx.AsyncClient) -> None:
    [year] = (await client.get("/v1/listening/years/2024?tz=UTC")).json()["data"]
    assert year["year"] == 2024 and year["totals"]["plays"] == 900
    assert len(year["top_tracks"]) == 5 and len(year["hours"]) == 24
    assert sum(h["play_count"] for h in year["hours"]) == 900
    assert year["top_month"]["month"].startswith("2024-") and year["longest_streak"]["days"] >= 1
    assert year["discoveries"]["tracks"] == 0  # every track was already played in December 2023
    csv = await client.get("/v1/listening/years/2024?format=csv")
    assert csv.status_code == 200 and "top_tracks" in csv.text


async def test_overview_has_the_previous_range_beside(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/v1/listening/overview?start=2024-02-01&end=2024-02-29&tz=UTC")).json()["data"]
    assert [r["period"] for r in rows] == ["current", "previous"]
    assert rows[1]["start"] == "2024-01-03" and rows[1]["end"] == "2024-01-31"
    assert rows[0]["plays"] == 300 and rows[0]["days_listened"] <= 29


async def test_artist_and_track_pages(client: httpx.AsyncClient) -> None:
    top = (await client.get("/v1/listening/discoveries?kind=artists&limit=1")).json()["data"][0]
    page = await client.get(f"/v1/listening/artists/{top['artist_id']}")
    assert page.status_code == 200, page.text
    [artist] = page.json()["data"]
    assert artist["artist"] == top["artist"] and artist["plays"] == top["play_count"]
    assert sum(m["plays"] for m in artist["months"]) == artist["plays"] and artist["top_tracks"]
    track_id = artist["top_tracks"][0]["track_id"]
    [track] = (await client.get(f"/v1/listening/tracks/{track_id}")).json()["data"]
    assert track["plays"] == sum(m["plays"] for m in track["months"]) > 0 and 0 < track["share_plays"] < 1
    missing = await client.get("/v1/listening/tracks/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_new_routes_in_batch_and_mcp(client: httpx.AsyncClient) -> None:
    batch = await client.post("/v1/batch", json=[
        {"route": "/v1/listening/years/2024", "params": {"tz": "UTC"}},
        {"route": "/v1/listening/top-albums", "params": {"limit": 2}}])
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == [200, 200]
    get = await client.get("/v1/listening/years/2024?tz=UTC")
    assert get.headers["x-cache"] == "hit"  # the batch made the same cache entry
    tools = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    names = {t["name"] for t in tools.json()["result"]["tools"]}
    assert {"listening_years", "listening_artists", "listening_tracks", "listening_top_albums", "listening_overview",
            "listening_streaks", "listening_discoveries", "listening_episodes"} <= names


async def test_search_ignores_accents_and_keeps_japanese(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from kasoku.domains.listening.schema import PLAYS_SCHEMA

    names = [("Jóga", "Björk"), ("夜に駆ける", "YOASOBI"), ("カ", "X")]
    n = len(names)
    table = pa.table({"play_id": [f"p{i}" for i in range(n)], "user_id": ["u1"] * n,
                      "played_at": [datetime(2024, 1, 1, i, tzinfo=timezone.utc) for i in range(n)],
                      "ms_played": [200_000] * n, "track_id": [f"t{i}" for i in range(n)],
                      "track_name": [t for t, _ in names], "artist_name": [a for _, a in names],
                      **{c: [None] * n for c in ("album_name", "platform", "country", "reason_start", "reason_end",
                                                 "shuffle", "skipped")}, "source": ["extended"] * n}, schema=PLAYS_SCHEMA)
    lake_dir = tmp_path / "lake"
    import_tables(Lake(str(lake_dir)), table)
    app = build_app(Settings(lake=str(lake_dir), user_id="u1"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            async def found(q: str) -> list[str]:
                return [r["track_name"] for r in (await c.get("/v1/listening/search", params={"q": q})).json()["data"]]
            assert await found("joga") == ["Jóga"]
            assert await found("BJORK") == ["Jóga"]
            assert await found("駆ける") == ["夜に駆ける"]
            assert await found("ガ") == []  # kana keep their dakuten
