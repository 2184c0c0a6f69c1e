"""A running server sees `kasoku ingest listening` by itself (no admin token, no --notify):
every worker follows the lake's version. `--notify` stays as an optional shortcut."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]
OLD_PLAYS = [{"ts": f"2024-{m:02d}-{d:02d}T10:00:00Z", "ms_played": 120000 + d, "master_metadata_track_name": f"Old {d}",
              "master_metadata_album_artist_name": "Earlier", "spotify_track_uri": f"spotify:track:old{d}"}
             for m in (1, 2) for d in range(1, 21)]
NEW_PLAY = [{"ts": "2024-02-10T10:00:00Z", "ms_played": 180000, "master_metadata_track_name": "New Song",
             "master_metadata_album_artist_name": "Someone", "spotify_track_uri": "spotify:track:new1"}]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("KASOKU_ADMIN_TOKEN", "KASOKU_REDIS_URL")}
    return {**base, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", **extra}


def ingest(lake_dir: Path, tmp_path: Path, *extra: str,
           plays: list[dict[str, object]] = NEW_PLAY) -> subprocess.CompletedProcess[str]:
    export = tmp_path / "Streaming_History_Audio_2024_0.json"
    export.write_bytes(orjson.dumps(plays))
    return subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(export), "--lake", str(lake_dir),
                           "--user", "me", *extra], capture_output=True, text=True, env=env(), cwd=ROOT)


@pytest.fixture
def served_lake(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`kasoku serve --workers 2` without Redis and without an admin token."""
    lake_dir = tmp_path / "lake"
    first = tmp_path / "first"
    first.mkdir()
    loaded = ingest(lake_dir, first, plays=OLD_PLAYS)  # through the CLI, whatever the lake's format
    assert loaded.returncode == 0, loaded.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--workers", "2", "--port", str(port),
                             "--lake", str(lake_dir)], cwd=ROOT,
                            env=env(KASOKU_USER_ID="me", KASOKU_VERSION_POLL_INTERVAL="0.3"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: len(workers(base)) == 2, timeout=60), "two workers never answered"
        yield base, lake_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_until(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def workers(base: str, tries: int = 20) -> dict[int, dict[str, object]]:
    """/health of each worker seen over ``tries`` fresh connections: pid -> health."""
    seen: dict[int, dict[str, object]] = {}
    for _ in range(tries):
        health = httpx.get(base + "/health", timeout=5).json()
        seen[health["worker"]] = health
    return seen


def test_every_worker_sees_an_ingest_without_redis_token_or_notify(served_lake: tuple[str, Path],
                                                                           tmp_path: Path) -> None:
    base, lake_dir = served_lake
    february = f"{base}/v1/listening/top-tracks?start=2024-02-01&end=2024-02-29&limit=100"

    def cached_everywhere() -> bool:
        for _ in range(4):
            assert httpx.get(february).status_code == 200  # fresh connections: either worker answers
        return all(h["cache"]["l1_entries"] >= 1 for h in workers(base).values())  # type: ignore[index]

    assert wait_until(cached_everywhere), "the answer never got cached by both workers"
    before = {h["data_versions"]["listening"] for h in workers(base).values()}  # type: ignore[index]
    assert len(before) == 1
    result = ingest(lake_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: all(h["data_versions"]["listening"] != before.copy().pop()  # type: ignore[index]
                                  for h in workers(base).values()))
    for _ in range(20):
        assert any(row["track_name"] == "New Song" for row in httpx.get(february).json()["data"])
    # --notify is an optional shortcut now: without the token it warns, the ingest still succeeds.
    again = ingest(lake_dir, tmp_path, "--notify", base, plays=[{**NEW_PLAY[0], "ts": "2024-02-11T10:00:00Z"}])
    assert again.returncode == 0 and "warning" in again.stderr and "Traceback" not in again.stderr
