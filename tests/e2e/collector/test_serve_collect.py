"""`kasoku serve --collect` against a fake Spotify: plays show up without a notify, status and metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kasoku.config import Settings
from kasoku.domains.listening.settings import SpotifySettings
from kasoku.service import build_app
from tests.integration.collector.conftest import do_login
from tests.services import free_port
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    server = FakeSpotify().start()
    yield server
    server.close()


@pytest.fixture
def served(tmp_path: Path, fake: FakeSpotify) -> Iterator[tuple[str, Any]]:
    settings = Settings(lake=str(tmp_path / "lake"), state=tmp_path / "state", user_id="me", collect=True,
                        spotify=SpotifySettings(client_id=fake.client_id, accounts_url=fake.url, api_url=fake.url,
                                                poll_interval=3600, artists_per_poll=0))
    do_login(settings)
    fake.add_plays(8, start=T0)
    app = build_app(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    collector = next(d for d in app.state.domains if d.name == "collector")
    try:
        yield f"http://127.0.0.1:{port}", collector
    finally:
        srv.should_exit = True
        thread.join(10)


def plays_on(base: str) -> tuple[int, str]:
    r = httpx.get(f"{base}/v1/listening/stats?granularity=month")
    return sum(row["track_count"] for row in r.json()["data"]), r.headers["x-cache"]


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_polled_plays_are_visible_at_once_and_status_shows_them(served: tuple[str, Any], fake: FakeSpotify) -> None:
    base, collector = served

    def polled() -> bool:
        users = httpx.get(f"{base}/v1/listening/collector/status").json()["users"]
        return bool(users) and users[0]["counters"]["plays_written"] == 8

    wait_for(polled)  # the first poll runs when the server starts
    assert plays_on(base)[0] == 8
    assert plays_on(base) == (8, "hit")
    fake.add_plays(5, start=datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc), seed=4)
    assert collector.scheduler.run_job("poll")
    assert plays_on(base) == (13, "miss")  # the commit dropped the cached answer in this process

    status = httpx.get(f"{base}/v1/listening/collector/status?user_id=me").json()
    me = status["users"][0]
    assert me["logged_in"] and me["spotify_user"] == "fake-user" and me["open_gaps"] == []
    assert "refresh_token" not in str(status) and "access_token" not in str(status)
    metrics = httpx.get(f"{base}/metrics").text
    assert 'kasoku_collector_plays_written_total{user="me"} 13.0' in metrics
    assert 'kasoku_collector_open_gaps{user="me"} 0.0' in metrics
    health = httpx.get(f"{base}/health").json()
    assert health["domains"]["collector"]["leader"] is True


def test_serve_watch_imports_a_dropped_export_and_serves_it(tmp_path: Path, fake: FakeSpotify) -> None:
    import json

    inbox = tmp_path / "inbox"
    settings = Settings(lake=str(tmp_path / "lake"), state=tmp_path / "state", user_id="me", import_dir=inbox,
                        import_settle=0.0)
    app = build_app(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        while not srv.started:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        assert plays_on(base)[0] == 0
        fake.add_plays(9, start=T0)
        inbox.mkdir(exist_ok=True)
        (inbox / "Streaming_History_Audio_2026.json").write_text(json.dumps(fake.export_rows()))
        wait_for(lambda: (inbox / "done" / "Streaming_History_Audio_2026.json.summary.json").exists())
        assert plays_on(base)[0] == 9  # the import's commit dropped the cached empty answer
        assert fake.count("/v1/") == 0  # --watch alone never polls Spotify
    finally:
        srv.should_exit = True
        thread.join(10)
