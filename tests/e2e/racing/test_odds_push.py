"""WebSocket odds push on a real uvicorn server, with a real websockets client.

The app runs over a private copy of the demo lake with a 0.2 s odds TTL (settings.policies),
so a change imported into the lake reaches the cache, and so the poller, within a TTL.
Waits are "until this happens" with a generous deadline; nothing asserts how long it took.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kasoku.api.app import create_app
from kasoku.client import AsyncKasokuClient
from kasoku.config import Settings
from kasoku.domains.racing.builder import build_win_odds
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.domains.racing.demo import DemoData
from kasoku.domains.racing.domain import RacingDomain
from kasoku.domains.racing.lake_import import import_files
from kasoku.lake.ducklake import Lake
from tests.services import free_port

DEADLINE = 15.0
TTL = {"ttl_l1": 0.2, "ttl_l2": 0.2}


class Server:
    def __init__(self, app: FastAPI, domain: RacingDomain, lake: Lake, port: int) -> None:
        self.app, self.domain, self.lake, self.port = app, domain, lake, port

    def ws(self, race_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/realtime/ws/odds/{race_id}{query}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def server(tmp_path: Path, demo_lake: Lake) -> AsyncIterator[Server]:
    shutil.copytree(demo_lake.url, tmp_path / "lake")  # we import into it: never the shared session lake
    lake = Lake(str(tmp_path / "lake"))
    settings = Settings(lake=lake.url, policies={"racing.0B31": TTL, "racing.0B32": TTL})
    domain = RacingDomain(settings, client=LakeClient(lake), push_min_interval=0.05)
    app = create_app(settings, [domain])
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield Server(app, domain, lake, port)
    finally:
        srv.should_exit = True
        await task


async def until(check: Callable[[], bool], what: str) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(wait(), DEADLINE)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def receive(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), DEADLINE)
    message: dict[str, Any] = orjson.loads(frame)
    return message


def import_odds(lake: Lake, tmp: Path, race_id: str, odds: dict[int, float]) -> None:
    path = tmp / f"odds-{race_id}-{len(list(tmp.glob('odds-*')))}.jvd"
    path.write_bytes(build_win_odds(race_id, odds))
    import_files(lake, [path], dataspec="0B31")


def win_odds(message: dict[str, Any]) -> dict[int, float]:
    latest = message["data"]["records"][-1]["data"]  # an update is appended: the last O1 wins
    return {row["horse_number"]: row["odds"] for row in latest["win_odds"]}


async def test_snapshot_is_the_get_answer(server: Server, demo: DemoData) -> None:
    race = demo.race_ids[0]
    async with connect(server.ws(race, "?type=win&interval=1")) as ws:
        first = await receive(ws)
    async with httpx.AsyncClient(base_url=server.http) as http:
        got = await http.get(f"/api/v1/realtime/odds/{race}?type=win", headers={"Accept-Encoding": "identity"})
    assert first["type"] == "odds" and first["race_id"] == race and first["odds_type"] == "win"
    assert first["data"] == got.json() and first["data"]["data_spec"] == "0B31"
    assert first["etag"] == got.headers["etag"]


async def test_a_change_is_pushed_once_and_unchanged_odds_never(server: Server, demo: DemoData,
                                                                tmp_path: Path) -> None:
    race = demo.race_ids[1]
    async with connect(server.ws(race, "?type=win&interval=0.05")) as ws:
        first = await receive(ws)
        poller = server.domain.push.pollers[(race, "win")]
        calls = server.domain.source.upstream_calls  # type: ignore[union-attr]
        # Polls go on and the entry expires (the upstream is asked again), but the odds are the same.
        await until(lambda: server.domain.source.upstream_calls >= calls + 2 and poller.polls >= 5,  # type: ignore[union-attr]
                    "the poller re-read the expired odds")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert poller.pushed == 1

        new = {h: o + 1.0 for h, o in win_odds(first).items()}
        import_odds(server.lake, tmp_path, race, new)
        update = await receive(ws)
        assert update["type"] == "odds" and update["etag"] != first["etag"]
        assert win_odds(update) == new
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)
        assert poller.pushed == 2


async def test_two_sockets_share_one_poller(server: Server, demo: DemoData, tmp_path: Path) -> None:
    race, hub = demo.race_ids[2], server.domain.push
    async with connect(server.ws(race, "?interval=0.05")) as one, connect(server.ws(race, "?type=win")) as two:
        a, b = await receive(one), await receive(two)
        assert a == b
        assert hub.stats() == {"pollers": 1, "watchers": 2}
        assert hub.pollers[(race, "win")].interval == 0.05  # the smaller of the two intervals
        async with connect(server.ws(race, "?type=quinella")) as other:
            assert (await receive(other))["data"]["data_spec"] == "0B32"
            assert hub.stats() == {"pollers": 2, "watchers": 3}
        await until(lambda: hub.stats() == {"pollers": 1, "watchers": 2}, "the quinella poller stopped")

        new = {h: 99.9 for h in win_odds(a)}
        import_odds(server.lake, tmp_path, race, new)
        ua, ub = await receive(one), await receive(two)
        assert ua == ub and win_odds(ua) == new
    await until(lambda: hub.stats() == {"pollers": 0, "watchers": 0}, "the last socket left: no poller")


async def test_invalidation_pushes_without_waiting_for_the_ttl(server: Server, demo: DemoData,
                                                               tmp_path: Path) -> None:
    race = demo.race_ids[3]
    async with connect(server.ws(race, "?interval=0.05")) as ws:
        first = await receive(ws)
        new = {h: 2.5 for h in win_odds(first)}
        import_odds(server.lake, tmp_path, race, new)
        await server.app.state.engine.invalidate(tags=["racing:0B31"])
        assert win_odds(await receive(ws)) == new


@pytest.mark.parametrize(("path", "said"), [("nonsense", "key"), ("2024060105030101?type=bogus", "odds type"),
                                            ("2024060105030101?interval=abc", "interval")])
async def test_bad_input_closes_1008_with_a_reason(server: Server, path: str, said: str) -> None:
    race, _, query = path.partition("?")
    async with connect(server.ws(race, f"?{query}" if query else "")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), DEADLINE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert said in closed.value.rcvd.reason
    assert server.domain.push.stats()["pollers"] == 0


async def test_python_client_reads_racing(server: Server, demo: DemoData) -> None:
    race = demo.race_ids[0]
    async with AsyncKasokuClient(server.http, format="json") as kasoku:
        odds = await kasoku.racing_odds(race, "quinella")
        assert odds[0]["record_type"] == "O2"  # type: ignore[index]
        page = await kasoku.answer("/api/v1/data/RACE", from_time="20240601", to_time="20240601", limit=3)
        assert len(page.rows) == 3 and page.meta["has_more"] is True
        table = await kasoku.racing_data("RACE", from_time="20240601", to_time="20240601", limit=3, format="arrow")
        assert table.num_rows == 3  # type: ignore[union-attr]

