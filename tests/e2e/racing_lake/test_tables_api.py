"""/api/v1/tables, /api/v1/tables/{name} and /api/v1/races/{race_id} over HTTP, on a real DuckLake
filled by the racing import (the demo's racing days), through the app's real responder and cache."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.domains.racing.builder import build_entry, build_race, build_win_odds
from kasoku.domains.racing.demo import DemoData, delivery_order, generate
from kasoku.domains.racing.lake_domain import RacingLakeDomain
from kasoku.domains.racing.lake_import import import_records
from kasoku.lake.ducklake import Lake


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate()


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory, demo: DemoData) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("racing-lake") / "lake"))
    import_records(lake, delivery_order(demo))
    return lake


def app_on(lake: Lake, **settings: object) -> FastAPI:
    s = Settings(lake=lake.url, version_poll_interval=0.05, **settings)
    return create_app(s, [RacingLakeDomain(s, lake)])


async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


@pytest.fixture
async def client(demo_lake: Lake) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_of(app_on(demo_lake)):
        yield c


async def test_tables_lists_tables_views_columns_and_rows(client: httpx.AsyncClient, demo: DemoData) -> None:
    r = await client.get("/api/v1/tables")
    assert r.status_code == 200
    by_name = {t["name"]: t for t in r.json()["data"]}
    assert by_name["ra"]["rows"] == len(demo.race_ids) and by_name["ra"]["kind"] == "table"
    assert by_name["se"]["rows"] == sum(1 for rec in demo.files["RACE"] if rec[:2] == b"SE")
    assert by_name["o6"]["rows"] == len(demo.race_ids)
    assert by_name["wf"]["rows"] == 0  # every layout has its table, empty until its records arrive
    assert {"races", "entries", "odds", "payouts", "horses", "jockeys", "trainers", "pedigree"} <= set(by_name)
    assert by_name["odds"]["kind"] == "view" and by_name["odds"]["rows"] is None
    columns = {c["name"]: c["type"] for c in by_name["se"]["columns"]}
    assert columns["horse_name"] == "VARCHAR" and columns["race_date"] == "DATE" and "_hash" not in columns
    assert {"race_id", "bet_type", "combination", "odds", "popularity"} <= {c["name"] for c in by_name["odds"]["columns"]}


async def test_filters_columns_and_paging(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    r = await client.get(f"/api/v1/tables/se?race_id={race}&columns=race_id,horse_number,horse_name")
    body = r.json()
    assert r.status_code == 200 and body["data"] and {row["race_id"] for row in body["data"]} == {race}
    assert set(body["data"][0]) == {"race_id", "horse_number", "horse_name"}
    numbers = [row["horse_number"] for row in body["data"]]
    first = await client.get(f"/api/v1/tables/entries?race_id={race}&limit=3")
    page = first.json()
    assert [row["horse_number"] for row in page["data"]] == sorted(numbers)[:3]
    assert page["has_more"] and page["next_offset"] == 3
    second = (await client.get(f"/api/v1/tables/entries?race_id={race}&limit=3&offset=3")).json()
    assert [row["horse_number"] for row in second["data"]] == sorted(numbers)[3:6]
    day = await client.get("/api/v1/tables/races?start=2024-06-02&end=20240602&racecourse=09")
    assert {row["race_id"][:8] for row in day.json()["data"]} == {"20240602"}
    assert {row["racecourse_code"] for row in day.json()["data"]} == {"09"}
    jockey = demo.jockey_ids[0]
    rides = (await client.get(f"/api/v1/tables/entries?jockey={jockey}&limit=1000")).json()["data"]
    assert rides and {row["jockey_code"] for row in rides} == {jockey}
    horse = (await client.get(f"/api/v1/tables/horses?horse={demo.horse_ids[0]}")).json()["data"]
    assert len(horse) == 1 and horse[0]["horse_name"]


async def test_odds_view_is_long_form_and_matches_the_records(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    rows = (await client.get(f"/api/v1/tables/odds?race_id={race}&limit=100000")).json()["data"]
    bets = {row["bet_type"] for row in rows}
    assert bets == {"win", "place", "bracket_quinella", "quinella", "wide", "exacta", "trio", "trifecta"}
    win = [row for row in rows if row["bet_type"] == "win"]
    entries = (await client.get(f"/api/v1/tables/entries?race_id={race}")).json()["data"]
    assert len(win) == len(entries)  # one consistent field across SE and O1
    assert all(row["odds"] > 1.0 and row["popularity"] >= 1 for row in win)


@pytest.mark.parametrize("url, names", [
    ("/api/v1/tables/um?start=2024-06-01", "start"),
    ("/api/v1/tables/ks?race_id=2024060105030101", "race_id"),
    ("/api/v1/tables/se?colour=red", "colour"),
    ("/api/v1/tables/se?columns=race_id,nope", "nope"),
    ("/api/v1/tables/se?limit=0", "limit"),
    ("/api/v1/tables/se?limit=100000000", "limit"),
    ("/api/v1/tables/se?start=2024-13-01", "start"),
    ("/api/v1/tables/se?race_id=12", "race_id"),
    ("/api/v1/races/123", "race_id"),
])
async def test_bad_parameters_are_400_naming_them(client: httpx.AsyncClient, url: str, names: str) -> None:
    r = await client.get(url)
    assert r.status_code == 400, r.text
    assert names in r.text


async def test_unknown_table_and_race_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/tables/zz")).status_code == 404
    assert (await client.get("/api/v1/races/2099010105010101")).status_code == 404


async def test_every_wire_format(client: httpx.AsyncClient, demo: DemoData) -> None:
    url = f"/api/v1/tables/se?race_id={demo.race_ids[0]}"
    as_json = (await client.get(url)).json()["data"]
    arrow = ipc.open_stream((await client.get(url + "&format=arrow")).content).read_all()
    assert arrow.num_rows == len(as_json)
    assert pa.types.is_list(arrow.schema.field("opponent_horses").type)  # nested columns stay nested
    parquet = pq.read_table(io.BytesIO((await client.get(url, headers={"Accept": "application/vnd.apache.parquet"})).content))
    assert parquet.column("horse_name").to_pylist() == [row["horse_name"] for row in as_json]
    csv = await client.get(url + "&format=csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("\"record_type\",")
    assert len(csv.text.splitlines()) >= len(as_json) + 1
    assert (await client.get(url + "&format=msgpack")).status_code == 200


async def test_race_card(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    r = await client.get(f"/api/v1/races/{race}")
    assert r.status_code == 200
    card = r.json()["data"][0]
    assert card["race"]["race_id"] == race and card["race"]["data_code"] == "7"  # 確定 replaced the 出馬表
    entries = card["entries"]
    assert len(entries) == card["race"]["num_starters"]
    winner = [e for e in entries if e["confirmed_placing"] == 1]
    assert len(winner) == 1
    win_pay = [p for p in card["payouts"] if p["bet_type"] == "win"]
    assert win_pay and int(win_pay[0]["combination"]) == winner[0]["horse_number"]
    assert {o["bet_type"] for o in card["odds"]} >= {"win", "place", "quinella"}
    arrow = ipc.open_stream((await client.get(f"/api/v1/races/{race}?format=arrow")).content).read_all()
    assert arrow.column_names == ["race", "entries", "odds", "payouts"]


async def test_answers_are_cached_and_dropped_by_a_racing_import(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    race = "2024060105030101"
    import_records(lake, [build_race(race, "出馬表", 1600, data_code="2", data_creation_date="2024-05-30"),
                          build_entry(race, 1, "アオイソラ", data_code="2", data_creation_date="2024-05-30"),
                          build_win_odds(race, {1: 3.0})])
    async for c in client_of(app_on(lake)):
        url = f"/api/v1/tables/races?race_id={race}"
        first = await c.get(url)
        again = await c.get(url)
        odds = await c.get(f"/api/v1/tables/odds?race_id={race}")
        assert first.json()["data"][0]["race_name"] == "出馬表"
        assert again.headers["x-cache"] == "hit" and odds.status_code == 200
        assert (await c.get(f"/api/v1/tables/odds?race_id={race}")).headers["x-cache"] == "hit"
        await asyncio.to_thread(import_records, lake, [build_race(race, "確定", 1600, data_code="7",
                                                                  data_creation_date="2024-06-01")])
        for _ in range(200):  # the engine polls the lake's snapshot every 50 ms
            fresh = await c.get(url)
            if fresh.headers["x-cache"] != "hit":
                break
            await asyncio.sleep(0.05)
        assert fresh.json()["data"][0]["race_name"] == "確定"
        # the import touched only `ra`: the cached odds answer survives
        assert (await c.get(f"/api/v1/tables/odds?race_id={race}")).headers["x-cache"] == "hit"


async def test_tables_through_batch(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    direct = (await client.get(f"/api/v1/tables/races?race_id={race}")).json()
    r = await client.post("/v1/batch", json=[{"route": "/api/v1/tables/races", "params": {"race_id": race}}])
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert result["status"] == 200 and result["cache"] == "hit"  # the GET above made the one entry both share
    assert result["data"]["data"] == direct["data"]


async def test_mcp_tools_read_tables_and_race_cards(client: httpx.AsyncClient, demo: DemoData) -> None:
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    listed = await client.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    tools = {t["name"]: t for t in listed.json()["result"]["tools"]}
    assert {"racing_tables", "racing_races"} <= set(tools)
    assert "entries" in tools["racing_tables"]["inputSchema"]["properties"]["name"]["enum"]
    race = demo.race_ids[0]
    called = await client.post("/mcp", headers=headers, json={
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "racing_tables", "arguments": {"name": "races", "race_id": race}}})
    rows = called.json()["result"]["structuredContent"]["data"]
    assert [r["race_id"] for r in rows] == [race]
