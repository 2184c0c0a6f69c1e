"""MCP over HTTP: the JSON-RPC handshake, tools from the query registry, calls through the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from kasoku.api.mcp import tool_name
from kasoku.config import Settings
from kasoku.service import build_app
from tests.plays import load_lake, make_plays

HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {m: make_plays(m, 200, seed=i) for i, m in enumerate(["2024-01", "2024-02"])}, rollups=False)
    return build_app(Settings(lake=str(lake_dir), user_id="u1"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


async def rpc(client: httpx.AsyncClient, method: str, params: dict[str, Any] | None = None,
              msg_id: int = 1) -> dict[str, Any]:
    response = await client.post("/mcp", json={"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}},
                                 headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == msg_id
    return body


def test_tool_names_come_from_paths() -> None:
    assert tool_name("/v1/listening/top-tracks") == "listening_top_tracks"
    assert tool_name("/v1/listening/top-tracks", "listening") == "listening_top_tracks"
    assert tool_name("/api/v1/realtime/odds/{race_id}", "racing") == "racing_realtime_odds"
    assert tool_name("/api/v1/master/{kind}/{entity_id}", "racing") == "racing_master"


async def test_handshake(client: httpx.AsyncClient) -> None:
    init = await rpc(client, "initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                                            "clientInfo": {"name": "test", "version": "0"}})
    result = init["result"]
    assert result["protocolVersion"] == "2025-03-26"  # a version we support is echoed
    assert "tools" in result["capabilities"]
    assert result["serverInfo"]["name"] == "kasoku"
    newer = await rpc(client, "initialize", {"protocolVersion": "2099-01-01"})
    assert newer["result"]["protocolVersion"] == "2025-06-18"  # else our newest
    note = await client.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=HEADERS)
    assert note.status_code == 202 and note.content == b""
    assert (await rpc(client, "ping", msg_id=7))["result"] == {}
    assert (await client.get("/mcp")).status_code == 405


async def test_tools_list_has_the_listening_tools_with_their_schemas(client: httpx.AsyncClient) -> None:
    tools = {t["name"]: t for t in (await rpc(client, "tools/list"))["result"]["tools"]}
    assert {"listening_top_tracks", "listening_top_artists", "listening_stats", "listening_hours",
            "listening_search", "listening_plays"} <= set(tools)
    top = tools["listening_top_tracks"]
    assert top["description"].startswith("Most played tracks")
    schema = top["inputSchema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"start", "end", "limit", "user_id", "tz", "min_ms"}  # format is wire-only
    assert schema["properties"]["limit"]["minimum"] == 1 and schema["properties"]["limit"]["maximum"] == 100
    assert {"type": "string", "format": "date"} in schema["properties"]["start"]["anyOf"]
    assert "required" not in schema
    search = tools["listening_search"]["inputSchema"]
    assert search["required"] == ["q"]
    assert tools["listening_stats"]["inputSchema"]["properties"]["granularity"]["enum"] == ["day", "week", "month"]


async def test_call_answers_the_same_rows_as_get_and_shares_its_cache(client: httpx.AsyncClient) -> None:
    url = "/v1/listening/top-tracks?start=2024-01-01&end=2024-02-29&limit=5"
    got = await client.get(url)
    assert got.headers["x-cache"] == "miss"
    call = await rpc(client, "tools/call", {"name": "listening_top_tracks",
                                            "arguments": {"start": "2024-01-01", "end": "2024-02-29", "limit": 5}})
    result = call["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["data"] == got.json()["data"]
    assert result["content"][0]["type"] == "text"
    assert orjson.loads(result["content"][0]["text"]) == got.json()  # the GET's JSON body itself
    meta = result["_meta"]["kasoku"]
    assert meta["cache"] == "hit" and meta["etag"] == got.headers["etag"]  # one cache entry for both


async def test_second_call_is_a_cache_hit(client: httpx.AsyncClient) -> None:
    args = {"name": "listening_stats", "arguments": {"granularity": "month"}}
    first = (await rpc(client, "tools/call", args))["result"]
    second = (await rpc(client, "tools/call", args, msg_id=2))["result"]
    assert (first["_meta"]["kasoku"]["cache"], second["_meta"]["kasoku"]["cache"]) == ("miss", "hit")
    assert first["structuredContent"] == second["structuredContent"]
    assert [r["period"] for r in second["structuredContent"]["data"]] == ["2024-01", "2024-02"]
    stats = client._transport.app.state.engine.stats()  # type: ignore[attr-defined]
    assert stats["datasets"]["listening"]["hit"] >= 1


@pytest.mark.parametrize(("arguments", "said"), [({"limit": 0}, "limit"), ({"start": "2024-03-01", "end": "2024-01-01"},
                                                 "backwards"), ({"nope": 1}, "nope")])
async def test_bad_arguments_are_tool_errors(client: httpx.AsyncClient, arguments: dict[str, Any], said: str) -> None:
    result = (await rpc(client, "tools/call", {"name": "listening_top_tracks", "arguments": arguments}))["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert text.startswith("INVALID_PARAMETER: ") and said in text
    assert result["structuredContent"]["error"]["code"] == "INVALID_PARAMETER"
    assert "_meta" not in result  # nothing was asked of the engine


async def test_protocol_errors(client: httpx.AsyncClient) -> None:
    unknown = await rpc(client, "resources/list")
    assert unknown["error"]["code"] == -32601
    no_tool = await rpc(client, "tools/call", {"name": "nope", "arguments": {}})
    assert no_tool["error"]["code"] == -32602 and "listening_top_tracks" in no_tool["error"]["data"]["tools"]
    bad_json = await client.post("/mcp", content=b"{not json", headers={**HEADERS, "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == -32700
    assert bad_json.json()["id"] is None
    not_rpc = await client.post("/mcp", json={"id": 1, "method": "ping"}, headers=HEADERS)
    assert not_rpc.status_code == 400 and not_rpc.json()["error"]["code"] == -32600
    version = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                headers={**HEADERS, "MCP-Protocol-Version": "1999-01-01"})
    assert version.status_code == 400
    foreign = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                headers={**HEADERS, "Origin": "https://evil.example"})
    assert foreign.status_code == 403


async def test_batch_of_messages(client: httpx.AsyncClient) -> None:
    response = await client.post("/mcp", headers=HEADERS, json=[
        {"jsonrpc": "2.0", "id": "a", "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "b", "method": "tools/call",
         "params": {"name": "listening_top_artists", "arguments": {"limit": 2}}}])
    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()}
    assert set(answers) == {"a", "b"}
    assert len(answers["b"]["result"]["structuredContent"]["data"]) == 2
    only_notes = await client.post("/mcp", headers=HEADERS, json=[{"jsonrpc": "2.0", "method": "notifications/initialized"}])
    assert only_notes.status_code == 202


async def test_a_batch_past_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    many = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(51)]  # batch_max_items defaults to 50
    response = await client.post("/mcp", headers=HEADERS, json=many)
    assert response.status_code == 413 and response.json()["error"]["data"]["max_items"] == 50
