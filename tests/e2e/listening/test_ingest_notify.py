"""`kasoku ingest listening --notify URL` against a real server: only the months it rewrote go stale."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

from kasoku.config import Settings
from kasoku.service import build_app
from tests.plays import load_lake, make_plays
from tests.services import free_port

TOKEN = "notify-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {m: make_plays(m, 100, user="me") for m in ("2024-01", "2024-02")}, rollups=False)
    port = free_port()
    app = build_app(Settings(lake=str(lake_dir), user_id="me", admin_token=TOKEN))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.02)
    yield base, lake_dir
    srv.should_exit = True
    thread.join(10)


def test_notify_invalidates_only_the_rewritten_months(server: tuple[str, Path], tmp_path: Path) -> None:
    base, lake_dir = server
    january = f"{base}/v1/listening/top-tracks?start=2024-01-01&end=2024-01-31"
    february = f"{base}/v1/listening/top-tracks?start=2024-02-01&end=2024-02-29"
    for url in (january, february):
        assert httpx.get(url).headers["x-cache"] == "miss"
        assert httpx.get(url).headers["x-cache"] == "hit"
    new_play = [{"ts": "2024-02-10T10:00:00Z", "ms_played": 180000, "master_metadata_track_name": "New Song",
                 "master_metadata_album_artist_name": "Someone", "spotify_track_uri": "spotify:track:new1"}]
    export = tmp_path / "Streaming_History_Audio_2024_0.json"
    export.write_bytes(orjson.dumps(new_play))
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(export), "--lake", str(lake_dir),
                             "--user", "me", "--notify", base], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": "src", "KASOKU_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert httpx.get(january).headers["x-cache"] == "hit"  # untouched month survives
    fresh = httpx.get(february)
    assert fresh.headers["x-cache"] == "miss"
    assert any(row["track_name"] == "New Song" for row in httpx.get(february + "&limit=100").json()["data"])


def test_notify_without_the_token_fails_clearly(server: tuple[str, Path], tmp_path: Path) -> None:
    base, lake_dir = server
    export = tmp_path / "Streaming_History_Audio_2024_0.json"
    export.write_bytes(orjson.dumps([{"ts": "2024-01-10T10:00:00Z", "ms_played": 1000, "master_metadata_track_name": "X",
                                      "master_metadata_album_artist_name": "Y", "spotify_track_uri": "spotify:track:x"}]))
    env = {k: v for k, v in os.environ.items() if k != "KASOKU_ADMIN_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(export), "--lake", str(lake_dir),
                             "--notify", base], capture_output=True, text=True, env={**env, "PYTHONPATH": "src", "COLUMNS": "200"})
    assert result.returncode == 1 and "401" in result.stderr and "Traceback" not in result.stderr
