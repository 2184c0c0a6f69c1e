"""``kasoku serve --workers 2``: two processes on one port, sharing L2 (Redis) and coalescing;
and two servers on one Valkey and one S3 lake (the deploy/ topology, as processes).

The real CLI in a subprocess, the listening domain on an (empty) lake of its own. Which
worker answered is told by ``/admin/cache`` (``pid``); every
request opens a new connection, so the kernel hands them to both workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kasoku.domains.listening.ingest import import_tables
from tests.conftest import S3Lake
from tests.plays import make_plays
from tests.services import free_port

from .conftest import ROOT, TOKEN

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


class Workers:
    """``kasoku serve --workers N`` as a subprocess (one "machine" of a deployment)."""

    def __init__(self, tmp: Path, redis_url: str, workers: int = 2, *, lake: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tmp.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ, KASOKU_REDIS_URL=redis_url, KASOKU_ADMIN_TOKEN=TOKEN, KASOKU_STATE=str(tmp / "state"),
                        KASOKU_USER_ID="me", PYTHONPATH=str(ROOT / "src"), **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--workers", str(workers),
                                      "--port", str(self.port), "--lake", lake or str(tmp / "lake"), *([] if lake else ["--create"])], cwd=tmp, env=full_env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kasoku serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("kasoku serve --workers did not answer")

    def stats_by_worker(self, workers: int = 2, tries: int = 200) -> dict[str, dict[str, Any]]:
        """The latest /admin/cache of each worker (new connection each time, until all were seen)."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(tries):
            stats = httpx.get(self.url + "/admin/cache", headers=ADMIN, timeout=5).json()
            seen[str(stats["pid"])] = stats
            if len(seen) == workers:
                break
        return seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    served = Workers(tmp_path, redis_url)
    try:
        yield served
    finally:
        served.stop()


def test_two_workers_on_one_port_answer_and_share_one_source_run(workers: Workers) -> None:
    assert len(workers.stats_by_worker()) == 2  # two processes answer on the one port
    route = workers.url + "/v1/listening/top-tracks?start=2024-01-01&end=2024-12-31&limit=5"
    bodies = {httpx.get(route, timeout=10).content for _ in range(30)}
    assert len(bodies) == 1
    stats = workers.stats_by_worker()
    assert len(stats) == 2
    assert sum(s["source_runs"] for s in stats.values()) == 1  # the other worker read L2 (or waited on the lease)
    assert all(s["datasets"]["listening"]["total"] >= 1 for s in stats.values())  # both answered data requests


def test_two_servers_on_one_valkey_and_one_s3_lake_share_answers_and_invalidations(
        tmp_path: Path, redis_url: str, s3_lake_url: S3Lake) -> None:
    """The deploy/ topology as processes (the PostgreSQL catalog: test_postgres_fleet.py): two servers
    ("machines"), one Valkey, one lake on S3; an ingest elsewhere notifies one server and the
    other one's answers change too."""
    s3 = s3_lake_url.s3
    s3_env = {"KASOKU_S3__ENDPOINT": s3.endpoint or "", "KASOKU_S3__ACCESS_KEY_ID": s3.access_key_id or "",
              "KASOKU_S3__SECRET_ACCESS_KEY": s3.secret_access_key or "", "KASOKU_S3__REGION": s3.region,
              "KASOKU_S3__URL_STYLE": "path", "KASOKU_S3__USE_SSL": "false",
              "KASOKU_LAKE_CATALOG": s3_lake_url.catalog}
    import_tables(s3_lake_url.lake(), make_plays("2024-02", 200, user="me"))
    machines = [Workers(tmp_path / f"m{i}", redis_url, workers=1, lake=s3_lake_url.url, env=s3_env) for i in (1, 2)]
    try:
        route = "/v1/listening/top-tracks?start=2024-02-01&end=2024-02-29&limit=50"
        bodies = {httpx.get(machines[i % 2].url + route, timeout=30).content for i in range(10)}
        assert len(bodies) == 1
        runs = [httpx.get(m.url + "/admin/cache", headers=ADMIN).json()["source_runs"] for m in machines]
        assert sum(runs) == 1  # one server ran the query; the other read L2

        export = tmp_path / "Streaming_History_Audio_2024_0.json"
        export.write_bytes(orjson.dumps([{"ts": "2024-02-10T10:00:00Z", "ms_played": 180000,
                                          "master_metadata_track_name": "New Song",
                                          "master_metadata_album_artist_name": "Someone",
                                          "spotify_track_uri": "spotify:track:new1"}]))
        ingest = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(export), "--lake",
                                 s3_lake_url.url, "--user", "me", "--notify", machines[0].url], capture_output=True,
                                text=True, env={**os.environ, **s3_env, "PYTHONPATH": str(ROOT / "src"),
                                                "KASOKU_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}, cwd=tmp_path)
        assert ingest.returncode == 0, ingest.stderr
        deadline = time.monotonic() + 20  # the broadcast reaches the other server
        while time.monotonic() < deadline:
            rows = httpx.get(machines[1].url + route, timeout=30).json()["data"]
            if any(row["track_name"] == "New Song" for row in rows):
                break
            time.sleep(0.1)
        assert any(row["track_name"] == "New Song" for row in rows)
    finally:
        for machine in machines:
            machine.stop()
