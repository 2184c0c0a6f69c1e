"""Odds, weight, master, schedule, status and batch download jobs over HTTP."""

from __future__ import annotations

import asyncio
import io

import httpx
import msgpack
import pyarrow.csv as pacsv
import pytest

from kasoku.domains.racing.demo import DemoData
from tests.e2e.racing.conftest import CountingClient


@pytest.mark.parametrize(("bet", "spec", "rtype"), [("win", "0B31", "O1"), ("place", "0B31", "O1"),
                                                    ("quinella", "0B32", "O2")])
async def test_odds(client: httpx.AsyncClient, demo: DemoData, bet: str, spec: str, rtype: str) -> None:
    race = demo.race_ids[3]
    body = (await client.get(f"/api/v1/realtime/odds/{race}?type={bet}")).json()
    assert body["data_spec"] == spec and body["total_count"] == 1
    data = body["records"][0]["data"]
    assert body["records"][0]["record_type"] == rtype and data["race_id"] == race
    odds = data["win_odds"] if rtype == "O1" else data["quinella_odds"]
    assert odds and all(row["odds"] > 1 for row in odds)


async def test_odds_errors(client: httpx.AsyncClient, demo: DemoData) -> None:
    bad_key = await client.get("/api/v1/realtime/odds/20240601?type=win")
    assert bad_key.status_code == 400 and bad_key.json()["error"]["details"]["jvlink_code"] == -114
    bad_type = await client.get(f"/api/v1/realtime/odds/{demo.race_ids[0]}?type=place_show")
    assert bad_type.status_code == 422
    no_data = await client.get("/api/v1/realtime/odds/2023010105010101?type=win")  # JV-Link -1: no data
    assert no_data.status_code == 200 and no_data.json()["records"] == []


async def test_weight(client: httpx.AsyncClient, demo: DemoData) -> None:
    race = demo.race_ids[0]
    body = (await client.get(f"/api/v1/realtime/weight/{race}")).json()
    assert body["data_spec"] == "0B11"
    infos = body["records"][0]["data"]["horse_weight_infos"]
    assert infos and all(400 <= row["horse_weight"] <= 560 for row in infos)


@pytest.mark.parametrize(("kind", "rtype", "field"), [("horse", "UM", "pedigree_reg_num"),
                                                      ("jockey", "KS", "jockey_code"),
                                                      ("trainer", "CH", "trainer_code")])
async def test_master(client: httpx.AsyncClient, demo: DemoData, kind: str, rtype: str,
                      field: str) -> None:
    entity = getattr(demo, f"{kind}_ids")[0]
    body = (await client.get(f"/api/v1/master/{kind}/{entity}")).json()
    assert body["data_spec"] == "DIFF" and body["total_count"] == 1
    assert body["records"][0]["record_type"] == rtype and body["records"][0]["data"][field] == entity


async def test_master_not_found_and_one_fetch_for_all_lookups(client: httpx.AsyncClient, upstream: CountingClient,
                                                              demo: DemoData) -> None:
    missing = await client.get("/api/v1/master/jockey/99999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    for horse in demo.horse_ids:
        assert (await client.get(f"/api/v1/master/horse/{horse}")).status_code == 200
    assert upstream.count("stored", "DIFF") == 1  # every lookup is a view over one DIFF fetch


async def test_schedule(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/schedule?from_date=20240601&to_date=20240602&jyo_cd=05")).json()
    assert body["total_count"] == 2
    assert [r["data"]["meet_date"] for r in body["records"]] == ["0601", "0602"]
    assert {r["data"]["racecourse_code"] for r in body["records"]} == {"05"}
    everything = (await client.get("/api/v1/schedule")).json()
    assert everything["total_count"] == 6
    backwards = await client.get("/api/v1/schedule?from_date=20240602&to_date=20240601")
    assert backwards.status_code == 400 and backwards.json()["error"]["details"]["jvlink_code"] == -113
    assert (await client.get("/api/v1/schedule?jyo_cd=Tokyo")).status_code == 422


async def test_status_and_health(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/data/YSCH")
    status = (await client.get("/status")).json()
    assert status["client"]["name"] == "lake" and status["upstream_calls"] == 1
    assert set(status["prefetch"]) >= {"started", "done", "failed", "hit"}
    assert status["jobs"] == {"pending": 0, "running": 0, "done": 0, "failed": 0}
    health = (await client.get("/health")).json()
    assert health["domains"]["racing"]["ok"] is True


async def _finished(client: httpx.AsyncClient, job_id: str) -> dict:  # type: ignore[type-arg]
    for _ in range(2000):
        job = (await client.get(f"/api/v1/batch/status/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        await asyncio.sleep(0.005)
    raise AssertionError("batch job never finished")


async def test_batch_job_lifecycle(client: httpx.AsyncClient, upstream: CountingClient) -> None:
    started = await client.post("/api/v1/batch/download",
                                json={"dataspecs": ["RACE", "YSCH", "DIFF"], "from_date": "20240601",
                                      "to_date": "20240602"})
    assert started.status_code == 202
    job = started.json()
    assert job["status"] in ("pending", "running") and job["dataspecs"] == ["RACE", "YSCH", "DIFF"]
    done = await _finished(client, job["job_id"])
    assert done["status"] == "done" and done["finished_at"] is not None
    assert done["parts"]["RACE"]["fromtime"] == "20240601000000-20240602235959"
    assert done["parts"]["DIFF"]["fromtime"] == "20240601000000"  # DIFF refuses a range
    assert done["parts"]["YSCH"]["records"] == 4
    calls = upstream.count("stored")
    result = done["results"]["RACE"]
    as_json = (await client.get(result + "?limit=10")).json()
    assert as_json["total_count"] == done["parts"]["RACE"]["records"] and len(as_json["records"]) == 10
    as_msgpack = msgpack.unpackb((await client.get(result + "?limit=10&format=msgpack")).content, raw=False)
    assert as_msgpack["records"][0]["data"] == as_json["records"][0]["data"]
    as_csv = pacsv.read_csv(io.BytesIO((await client.get(done["results"]["YSCH"] + "?format=csv")).content))
    assert as_csv.num_rows == 4 and as_csv.column_names == ["record_type", "data"]
    assert upstream.count("stored") == calls  # results are pages of the job's cached fetches


async def test_batch_job_errors(client: httpx.AsyncClient) -> None:
    realtime = await client.post("/api/v1/batch/download", json={"dataspecs": ["0B31"], "from_date": "20240601"})
    assert realtime.status_code == 400
    unknown = await client.post("/api/v1/batch/download", json={"dataspecs": ["NOPE"], "from_date": "20240601"})
    assert unknown.status_code == 400 and unknown.json()["error"]["details"]["jvlink_code"] == -111
    bad_date = await client.post("/api/v1/batch/download", json={"dataspecs": ["RACE"], "from_date": "2024-06-01"})
    assert bad_date.status_code == 422
    assert (await client.get("/api/v1/batch/status/feedfacefeedface")).status_code == 404
    job = (await client.post("/api/v1/batch/download", json={"dataspecs": ["YSCH"], "from_date": "20240601"})).json()
    await _finished(client, job["job_id"])
    other = await client.get(f"/api/v1/batch/result/{job['job_id']}/RACE")
    assert other.status_code == 400
