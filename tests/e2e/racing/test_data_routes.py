"""GET /api/v1/data/{dataspec} and POST /api/v1/data/stream over HTTP: shape, paging, errors,
raw bytes, wire formats, SSE."""

from __future__ import annotations

import base64

import httpx
import msgpack
import orjson
import pytest

from kasoku.domains.racing.catalogue import RECORD_LENGTHS
from kasoku.domains.racing.demo import DemoData
from tests.e2e.racing.conftest import CountingClient

DAY = "20240601"
RACE_DAY = f"/api/v1/data/RACE?from_time={DAY}&to_time={DAY}"


def expected_race_records(demo: DemoData) -> int:
    return sum(1 for r in demo.files["RACE"] if r[3:11] == DAY.encode())


async def test_page_shape(client: httpx.AsyncClient, demo: DemoData) -> None:
    r = await client.get(RACE_DAY + "&limit=3")
    assert r.status_code == 200
    body = r.json()
    assert body["data_spec"] == "RACE"
    assert body["total_count"] == expected_race_records(demo)
    assert body["has_more"] is True and body["next_offset"] == 3
    assert [rec["record_type"] for rec in body["records"]] == ["RA", "SE", "SE"]
    first = body["records"][0]
    assert set(first) == {"record_type", "data"}  # raw only on request
    assert first["data"]["race_id"].startswith(DAY) and first["data"]["record_type"] == "RA"


async def test_paging_walks_every_record_with_one_upstream_call(client: httpx.AsyncClient,
                                                                upstream: CountingClient) -> None:
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    total = None
    while offset is not None:
        body = (await client.get(f"{RACE_DAY}&limit=50&offset={offset}")).json()
        total = body["total_count"]
        seen += [orjson.dumps(rec["data"]).decode() for rec in body["records"]]
        assert body["has_more"] == (body["next_offset"] is not None)
        offset = body["next_offset"]
        pages += 1
    assert len(seen) == total and pages == -(-total // 50)
    assert upstream.count("stored", "RACE") == 1  # every page cut from one cached fetch
    past_end = (await client.get(f"{RACE_DAY}&limit=50&offset={total + 10}")).json()
    assert past_end["records"] == [] and past_end["has_more"] is False and past_end["next_offset"] is None


@pytest.mark.parametrize(("path", "jvlink_code"), [
    ("/api/v1/data/XXXX", -111),
    ("/api/v1/data/RACE?from_time=2024", -112),
    ("/api/v1/data/RACE?from_time=20241301000000", -112),
    ("/api/v1/data/RACE?from_time=20240601&to_time=20240501", -113),
    ("/api/v1/data/DIFF?from_time=20240601&to_time=20240602", -113),
    ("/api/v1/data/RACE?option=9", -115),
    ("/api/v1/data/DIFF?option=2", -116),
    ("/api/v1/data/0B31", -114),
    ("/api/v1/data/0B31?key=20240601", -114),
])
async def test_bad_parameters_are_400_with_the_jvlink_code(client: httpx.AsyncClient, upstream: CountingClient,
                                                           path: str, jvlink_code: int) -> None:
    r = await client.get(path)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "INVALID_PARAMETER"
    assert error["details"]["jvlink_code"] == jvlink_code
    assert upstream.calls == []  # rejected before the engine


async def test_raw_is_base64_of_the_exact_record_bytes(client: httpx.AsyncClient, demo: DemoData) -> None:
    body = (await client.get(RACE_DAY + "&limit=2&raw=true")).json()
    for rec in body["records"]:
        raw = base64.b64decode(rec["raw"])
        assert len(raw) in RECORD_LENGTHS[rec["record_type"]]
        assert raw.endswith(b"\r\n") and raw[:2].decode() == rec["record_type"]
        assert raw in demo.files["RACE"]
        raw.decode("cp932")  # valid cp932


async def test_realtime_through_the_data_route(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    body = (await client.get(f"/api/v1/data/0B15?key={race}")).json()
    assert body["data_spec"] == "0B15"
    assert {rec["record_type"] for rec in body["records"]} == {"RA", "SE"}
    day = (await client.get(f"/api/v1/data/0B11?key={DAY}&limit=1000")).json()
    assert day["total_count"] == 16  # one WH per race of the day (2 courses x 8)


async def test_msgpack_decodes_data_into_maps(client: httpx.AsyncClient) -> None:
    r = await client.get(RACE_DAY + "&limit=2", headers={"Accept": "application/msgpack"})
    assert r.headers["content-type"].startswith("application/msgpack")
    body = msgpack.unpackb(r.content, raw=False)
    assert body["records"][0]["data"]["record_type"] == "RA" and body["has_more"] is True


async def test_sse_stream_shape(client: httpx.AsyncClient) -> None:
    total = (await client.get("/api/v1/data/YSCH?limit=1")).json()["total_count"]
    r = await client.post("/api/v1/data/stream", json={"data_spec": "YSCH", "batch_size": 4})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block]
    kinds = [block.split("\n", 1)[0] for block in events]
    assert kinds[-1] == "event: complete" and set(kinds[:-1]) == {"event: data"}
    rows = []
    for block in events[:-1]:
        payload = orjson.loads(block.rsplit("data: ", 1)[1])
        assert 1 <= len(payload) <= 4
        rows += payload
    assert all(row["record_type"] == "YS" and isinstance(row["data"], dict) for row in rows)
    complete = orjson.loads(events[-1].rsplit("data: ", 1)[1])
    assert complete == {"total": total, "data_spec": "YSCH"} and len(rows) == total


async def test_stream_rejects_bad_parameters(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/data/stream", json={"data_spec": "NOPE"})
    assert r.status_code == 400 and r.json()["error"]["details"]["jvlink_code"] == -111
