"""The commands as a user runs them: login on a headless box, status, ingest closing a gap."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from kasoku.config import Settings
from kasoku.domains.listening.collector.poll import Collector
from tests.integration.collector.test_processes import ROOT, env_for
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def test_headless_login_then_status(settings: Settings, fake: FakeSpotify) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kasoku", "spotify", "login", "--user", "me", "--no-browser",
                             "--port", "0"], env={**env_for(settings), "COLUMNS": "400"}, cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdin is not None
    for line in proc.stderr:
        if "/authorize?" in line:
            url = line.strip()[line.strip().index("http"):]
            break
    redirected = httpx.get(url, follow_redirects=False, timeout=5).headers["location"]
    out, err = proc.communicate(redirected + "\n", timeout=30)
    assert proc.returncode == 0, err
    assert "logged in" in out and "Fake User" in out
    status = subprocess.run([sys.executable, "-m", "kasoku", "spotify", "status", "--json"], env=env_for(settings),
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    [me] = json.loads(status.stdout)["users"]
    assert me["logged_in"] and me["scopes"] == ["user-read-recently-played"]


def test_ingest_says_which_gaps_the_export_closed(logged_in: Settings, fake: FakeSpotify, lake: Any,
                                                  tmp_path: Path) -> None:
    first = fake.add_plays(5, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        fake.add_plays(80, start=first[-1].end, seed=1)
        collector.poll()
    export = tmp_path / "Streaming_History_Audio_2026_0.json"
    export.write_text(json.dumps(fake.export_rows()))
    done = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(export), "--user", "me"],
                          env={**env_for(logged_in), "COLUMNS": "200"}, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "closed: 30 play(s) from the export inside it" in done.stdout
    # the 55 polled plays met their export rows; the fake's played_at is the play's start
    assert "0 by end time, 55 by start time" in done.stdout
    status = subprocess.run([sys.executable, "-m", "kasoku", "spotify", "status", "--json"], env=env_for(logged_in),
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    [me] = json.loads(status.stdout)["users"]  # the gaps, read from the lake
    assert me["open_gaps"] == [] and [g["filled"] for g in me["closed_gaps"]] == [30]
