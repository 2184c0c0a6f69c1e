"""Racing's GET query routes in the registry: MCP tools and /v1/batch items build the GET's Query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from kasoku.domains.racing.demo import DemoData
from tests.e2e.racing.conftest import CountingClient


async def call(client: httpx.AsyncClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


async def test_racing_tools_are_listed_with_path_params_required(client: httpx.AsyncClient) -> None:
    tools = {t["name"]: t for t in (await call(client, "tools/list", {}))["tools"]}
    assert {"racing_data", "racing_realtime_odds", "racing_realtime_weight", "racing_master",
            "racing_schedule"} <= set(tools)
    odds = tools["racing_realtime_odds"]["inputSchema"]
    assert odds["required"] == ["race_id"]
    assert "quinella" in odds["properties"]["type"]["enum"]
    assert set(tools["racing_master"]["inputSchema"]["required"]) == {"kind", "entity_id"}
    assert tools["racing_data"]["inputSchema"]["properties"]["limit"]["maximum"] == 10_000


async def test_mcp_odds_call_shares_the_get_entry(client: httpx.AsyncClient, demo: DemoData,
                                                  upstream: CountingClient) -> None:
    race = demo.race_ids[0]
    got = await client.get(f"/api/v1/realtime/odds/{race}?type=quinella", headers={"Accept-Encoding": "identity"})
    result = await call(client, "tools/call", {"name": "racing_realtime_odds",
                                               "arguments": {"race_id": race, "type": "quinella"}})
    assert result["isError"] is False and result["structuredContent"] == got.json()
    assert result["_meta"]["kasoku"]["cache"] == "hit" and result["_meta"]["kasoku"]["etag"] == got.headers["etag"]
    assert upstream.count("realtime", "0B32") == 1
    bad = await call(client, "tools/call", {"name": "racing_realtime_odds", "arguments": {"race_id": "nope"}})
    assert bad["isError"] is True and bad["structuredContent"]["error"]["details"]["jvlink_code"] == -114
    page = await call(client, "tools/call", {"name": "racing_data", "arguments": {
        "dataspec": "RACE", "from_time": "20240601", "to_time": "20240601", "limit": 2}})
    assert len(page["structuredContent"]["records"]) == 2 and page["structuredContent"]["has_more"] is True


async def test_batch_names_concrete_racing_paths(client: httpx.AsyncClient, demo: DemoData) -> None:
    race, jockey = demo.race_ids[1], demo.jockey_ids[0]
    response = await client.post("/v1/batch", json=[
        {"route": f"/api/v1/realtime/odds/{race}", "params": {"type": "win"}},
        {"route": f"/api/v1/master/jockey/{jockey}", "params": {}},
        {"route": "/api/v1/schedule", "params": {"from_date": "20240601", "to_date": "20240602"}},
        {"route": f"/api/v1/realtime/odds/{race}", "params": {"race_id": demo.race_ids[2]}},
        {"route": "/api/v1/data/RACE", "params": {"limit": 0}}])
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 200, 400, 422]
    assert "race_id given in the path and differently" in results[3]["error"]["message"]
    assert results[0]["data"]["records"][0]["record_type"] == "O1"
    assert results[1]["data"]["records"][0]["data"]["jockey_code"] == jockey
    assert {r["record_type"] for r in results[2]["data"]["records"]} == {"YS"}
    get = await client.get(f"/api/v1/realtime/odds/{race}?type=win")
    assert get.headers["x-cache"] == "hit"  # the batch item filled the GET's entry


async def test_a_fetch_too_large_for_memory_is_413_with_a_hint(tmp_path: Path, demo_lake: Any, clock: Any) -> None:
    from kasoku.domains.racing.clients.lake import LakeClient
    from tests.e2e.racing.conftest import make_app

    app, _ = make_app(tmp_path, LakeClient(demo_lake, max_fetch_bytes=10_000), clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            response = await c.get("/api/v1/data/RACE?limit=5")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "FETCH_TOO_LARGE" and "from_time" in error["message"]
