"""The Python client against a real uvicorn server: Arrow and JSON agree, errors carry the code,
the stream yields every play, batch, invalidation, ETag revalidation, and the async twin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from kasoku.client import ACCEPT_ENCODING, AsyncKasokuClient, KasokuClient, KasokuHTTPError
from tests.e2e.client.conftest import MONTHS, PLAYS_PER_MONTH, TOKEN, ServerThread


@pytest.fixture
def kasoku(server: ServerThread) -> Iterator[KasokuClient]:
    with KasokuClient(server.url, token=TOKEN) as client:
        yield client


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrow gives typed values (Decimal, datetime); JSON gives numbers and strings."""
    def one(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.isoformat().replace("+00:00", "Z")
        if isinstance(v, dt.date):
            return v.isoformat()
        if not isinstance(v, (bool, int, str, type(None))):
            return round(float(v), 6)
        return v
    return [{k: one(v) for k, v in r.items()} for r in rows]


@pytest.mark.parametrize("call", ["top_tracks", "top_artists", "stats", "hours", "search", "plays"])
def test_arrow_and_json_give_the_same_rows(kasoku: KasokuClient, call: str) -> None:
    args: dict[str, Any] = {"search": {"q": "a"}, "stats": {"granularity": "month"}}.get(call, {})
    table = getattr(kasoku, call)(**args)
    rows = getattr(kasoku, call)(**args, format="json")
    assert isinstance(table, pa.Table) and isinstance(rows, list)
    assert table.num_rows == len(rows) > 0
    assert _plain(table.to_pylist()) == _plain(rows)


def test_answer_carries_meta_and_cache_headers(kasoku: KasokuClient) -> None:
    start, end = dt.date(2024, 1, 1), dt.date(2024, 2, 29)
    first = kasoku.answer("/v1/listening/top-tracks", start=start, end=end, limit=3)
    second = kasoku.answer("/v1/listening/top-tracks", start=start, end=end, limit=3)
    assert (first.cache, second.cache) == ("miss", "hit")
    assert first.meta["tool"] == "top_tracks" and first.meta["user_id"] == "u1"
    assert isinstance(first.rows, pa.Table) and first.rows.num_rows == 3
    json_answer = kasoku.answer("/v1/listening/top-tracks", start=start, end=end, limit=3, format="json")
    assert json_answer.meta == first.meta


def test_errors_raise_with_the_envelope_code(kasoku: KasokuClient) -> None:
    with pytest.raises(KasokuHTTPError) as backwards:
        kasoku.top_tracks(start="2024-03-01", end="2024-01-01")
    assert backwards.value.status == 400 and backwards.value.code == "INVALID_PARAMETER"
    assert "backwards" in backwards.value.message
    with pytest.raises(KasokuHTTPError) as invalid:
        kasoku.top_tracks(limit=0, format="json")
    assert invalid.value.status == 422 and invalid.value.code == "VALIDATION_ERROR"
    assert invalid.value.details["errors"][0]["where"].endswith("limit")
    with pytest.raises(KasokuHTTPError) as missing:
        kasoku.query("/v1/listening/nope")
    assert missing.value.status == 404 and missing.value.code == "NOT_FOUND"
    with KasokuClient(kasoku.base_url) as anonymous, pytest.raises(KasokuHTTPError) as denied:
        anonymous.invalidate()
    assert denied.value.status == 401


def test_stream_yields_every_play_in_order(kasoku: KasokuClient) -> None:
    plays = list(kasoku.stream_plays())
    assert len(plays) == len(MONTHS) * PLAYS_PER_MONTH
    times = [p["played_at"] for p in plays]
    assert times == sorted(times)
    january = list(kasoku.stream_plays(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31)))
    assert len(january) == PLAYS_PER_MONTH and all(p["played_at"].startswith("2024-01") for p in january)


def test_batch(kasoku: KasokuClient) -> None:
    results = kasoku.batch([("/v1/listening/top-tracks", {"limit": 2}),
                            ("/v1/listening/stats", {"granularity": "year"}),
                            ("/v1/listening/stats", {"granularity": "month", "start": dt.date(2024, 2, 1)})])
    assert [r["status"] for r in results] == [200, 400, 200]
    assert len(results[0]["data"]["data"]) == 2
    assert results[1]["error"]["code"] == "INVALID_PARAMETER"
    assert [r["period"] for r in results[2]["data"]["data"]] == MONTHS[1:]


def test_invalidate_and_etag_revalidation(server: ServerThread) -> None:
    with KasokuClient(server.url, token=TOKEN, format="json", etag_cache=8) as kasoku:
        first = kasoku.answer("/v1/listening/hours", start="2024-03-01", end="2024-03-31")
        again = kasoku.answer("/v1/listening/hours", start="2024-03-01", end="2024-03-31")
        assert again.cache == "revalidated" and again.rows == first.rows and again.etag == first.etag
        dropped = kasoku.invalidate(tags=["month:2024-03"])
        assert dropped["invalidated"]["l1"] >= 1
        recomputed = kasoku.answer("/v1/listening/hours", start="2024-03-01", end="2024-03-31")
        assert recomputed.cache == "revalidated"  # recomputed, but the same bytes: still 304
        assert server.app.state.engine.stats()["datasets"]["listening"]["miss"] >= 2


def test_compression_is_negotiated(kasoku: KasokuClient) -> None:
    assert "gzip" in ACCEPT_ENCODING
    response = kasoku._http.get("/v1/listening/plays", params={"limit": 1000}, headers={"Accept": "application/json"})
    assert response.headers.get("content-encoding") in ACCEPT_ENCODING.split(", ")
    assert len(response.json()["data"]) == 750


async def test_async_client(server: ServerThread) -> None:
    async with AsyncKasokuClient(server.url, token=TOKEN) as kasoku:
        table = await kasoku.top_artists(limit=3)
        rows = await kasoku.top_artists(limit=3, format="json")
        assert isinstance(table, pa.Table) and _plain(table.to_pylist()) == _plain(rows)  # type: ignore[arg-type]
        plays = [p async for p in kasoku.stream_plays(start="2024-02-01", end="2024-02-29")]
        assert len(plays) == PLAYS_PER_MONTH
        results = await kasoku.batch([("/v1/listening/hours", {})])
        assert results[0]["status"] == 200
        with pytest.raises(KasokuHTTPError) as bad:
            await kasoku.search("")
        assert bad.value.code in {"INVALID_PARAMETER", "VALIDATION_ERROR"}
