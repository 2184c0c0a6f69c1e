"""Every bad input the issue lists is a 4xx with the error envelope, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.secure.conftest import TOKEN, bearer

HUGE = "1" + "0" * 25  # past 2**64


def _envelope(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", [
    "/v1/listening/plays?end=9999-12-31",
    "/v1/listening/top-tracks?start=0001-01-01&end=9999-12-31",
    "/v1/listening/plays/stream?end=9999-12-31",
    f"/v1/listening/plays?offset={HUGE}",
    f"/v1/listening/top-tracks?limit={HUGE}",
    f"/api/v1/data/RACE?offset={HUGE}",
    f"/api/v1/data/RACE?option={HUGE}",
    f"/api/v1/data/RACE?limit={HUGE}",
    "/api/v1/data/RACE?option=-1",
    "/api/v1/data/NOPE",
    "/api/v1/data/RACE?from_time=99999999999999",
    f"/api/v1/batch/result/x/RACE?offset={HUGE}",
    "/api/v1/realtime/odds/x?type=nope",
    "/v1/listening/stats?granularity=year",
])
async def test_bad_query_parameters_are_4xx_envelopes(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
    _envelope(response)


@pytest.mark.parametrize("path,body", [
    ("/v1/batch", f'[{{"route": {HUGE}}}]'),
    ("/admin/invalidate", f'{{"tags": [{HUGE}]}}'),
    ("/admin/invalidate", f'{{"everything": {HUGE}}}'),
    ("/api/v1/batch/download", f'{{"dataspecs": ["RACE"], "from_date": "20240101", "option": {HUGE}}}'),
    ("/api/v1/data/stream", f'{{"data_spec": "RACE", "option": {HUGE}}}'),
    ("/api/v1/data/stream", f'{{"data_spec": "RACE", "batch_size": {HUGE}}}'),
])
async def test_huge_json_integers_are_4xx_envelopes(client: httpx.AsyncClient, path: str, body: str) -> None:
    response = await client.post(path, content=body.encode(), headers={"content-type": "application/json", **bearer(TOKEN)})
    assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text[:300])
    _envelope(response)


async def test_batch_items_with_huge_numbers_are_4xx_items(client: httpx.AsyncClient) -> None:
    items = [f'{{"route": "/v1/listening/plays", "params": {{"offset": {HUGE}}}}}',
             '{"route": "/v1/listening/plays", "params": {"end": "9999-12-31"}}',
             f'{{"route": "/api/v1/data/RACE", "params": {{"offset": {HUGE}, "option": {HUGE}}}}}',
             f'{{"route": "/api/v1/data/RACE", "params": {{"option": {HUGE}}}}}']
    body = ("[" + ",".join(items) + "]").encode()
    response = await client.post("/v1/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["results"]]
    assert all(400 <= s < 500 for s in statuses), response.text[:500]


async def test_a_large_bad_batch_is_answered_with_a_short_error(client: httpx.AsyncClient) -> None:
    junk = b"[" + b",".join([b'{"route": 1, "x": "' + b"y" * 200 + b'"}'] * 3000) + b"]"
    assert len(junk) < 1024 * 1024
    response = await client.post("/v1/batch", content=junk, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert len(response.content) < 8 * 1024
    error = _envelope(response)
    assert error["details"]["more_errors"] > 0  # type: ignore[index]
