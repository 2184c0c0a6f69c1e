"""Exactly once across processes: two collectors at once, and a collector killed (-9) mid-poll."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kasoku.config import Settings
from kasoku.domains.listening.collector.cursor import CursorStore
from tests.integration.collector.conftest import lake_plays, lake_version
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[3]

# Dies the way kill -9 does, right after the lake commit and before the cursor file is replaced.
DIE_AFTER_COMMIT = """
import os, signal, sys
from kasoku.domains.listening.collector import cursor
real = cursor.CursorStore.save
def save(self, c):
    if c.cursor_ms is not None and c.plays_written:
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, c)
cursor.CursorStore.save = save
from kasoku.cli import app
app(["collect", "--once"])
"""


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASOKU_")}
    env.update({"KASOKU_STATE": str(settings.state), "KASOKU_LAKE": settings.lake,
                "KASOKU_SPOTIFY__CLIENT_ID": settings.spotify.client_id or "",
                "KASOKU_SPOTIFY__ACCOUNTS_URL": settings.spotify.accounts_url,
                "KASOKU_SPOTIFY__API_URL": settings.spotify.api_url,
                "KASOKU_SPOTIFY__ARTISTS_PER_POLL": "0", "PYTHONPATH": str(ROOT / "src")})
    return env


def collect(settings: Settings, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "kasoku", "collect", "--once", *extra], env=env_for(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_two_collectors_at_once_write_each_play_once(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.add_plays(25, start=T0)
    fake.delay = 0.5  # both are inside a poll at the same time
    procs = [collect(logged_in), collect(logged_in)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    plays = lake_plays(lake)
    assert len(plays) == 25 == len({p["play_id"] for p in plays})
    assert fake.count("/v1/me/player/recently-played") == 2  # one after the other (the poll lock)
    assert lake_version(lake) == 1  # the second found nothing new: no lake write
    assert CursorStore(logged_in.state, "me").load().plays_written == 25


def test_kill_9_while_waiting_for_spotify_loses_and_doubles_nothing(logged_in: Settings, fake: FakeSpotify,
                                                                   lake: Any) -> None:
    fake.add_plays(10, start=T0)
    fake.delay = 30
    proc = collect(logged_in)
    wait_for(lambda: fake.count("/v1/me/player/recently-played") == 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    fake.delay = 0
    again = collect(logged_in)  # the kernel released the dead one's poll lock
    assert again.wait(timeout=60) == 0, again.stderr.read().decode() if again.stderr else ""
    assert len(lake_plays(lake)) == 10


def test_kill_9_between_commit_and_cursor_write_is_repaired_by_identity(logged_in: Settings, fake: FakeSpotify,
                                                                        lake: Any) -> None:
    fake.add_plays(10, start=T0)
    dying = subprocess.run([sys.executable, "-c", DIE_AFTER_COMMIT], env=env_for(logged_in), cwd=ROOT,
                           capture_output=True, timeout=60)
    assert dying.returncode == -signal.SIGKILL
    assert len(lake_plays(lake)) == 10 and CursorStore(logged_in.state, "me").load().cursor_ms is None
    version = lake_version(lake)
    fake.add_plays(3, start=datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc), seed=5)
    again = collect(logged_in)
    assert again.wait(timeout=60) == 0
    plays = lake_plays(lake)
    assert len(plays) == 13 == len({p["play_id"] for p in plays})
    assert lake_version(lake) == version + 1
