"""Two servers and two writers on one lake: DuckLake catalog in a real PostgreSQL, data on S3 (moto).

The issue's topology as processes: two ``kasoku serve`` (real uvicorn, no Redis, no admin token)
and two concurrent ``kasoku ingest listening`` with overlapping exports, all on the one lake
named by ``KASOKU_CATALOG=postgresql://…`` and ``KASOKU_LAKE=s3://…``. Every play lands exactly
once (counted by identity in the lake), and both servers answer the new data by following the
lake's snapshot (``version_poll_interval``) — nothing tells them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kasoku.lake.ducklake import Lake
from tests.conftest import S3Lake
from tests.services import PostgresServer, free_port

from .conftest import ROOT

PASSWORD = "pw-" + uuid.uuid4().hex[:12]  # trust auth ignores it; it must never be printed
POLL = 1.0  # version_poll_interval of both servers
MARGIN = 20.0  # a loaded 2-core box: process start-up, the first poll, a cold query


@pytest.fixture
def fleet_env(postgres_server: PostgresServer, s3_lake_url: S3Lake, tmp_path: Path) -> dict[str, str]:
    db = f"fleet_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(db)
    s3 = s3_lake_url.s3
    return {"KASOKU_CATALOG": f"postgresql://{postgres_server.user}:{PASSWORD}@{postgres_server.host}:{postgres_server.port}/{db}",
            "KASOKU_LAKE": s3_lake_url.url, "KASOKU_S3__ENDPOINT": s3.endpoint or "",
            "KASOKU_S3__ACCESS_KEY_ID": s3.access_key_id or "", "KASOKU_S3__SECRET_ACCESS_KEY": s3.secret_access_key or "",
            "KASOKU_S3__REGION": s3.region, "KASOKU_S3__URL_STYLE": "path", "KASOKU_S3__USE_SSL": "false",
            "KASOKU_USER_ID": "me", "KASOKU_VERSION_POLL_INTERVAL": str(POLL), "KASOKU_DUCKDB_WORKERS": "2",
            "KASOKU_STATE": str(tmp_path / "state"), "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASOKU_")}  # no admin token, no Redis
    return {**env, **extra}


def _kasoku(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kasoku", *args], capture_output=True, text=True, env=_env(env),
                          cwd=cwd, timeout=300)


class Machine:
    """One ``kasoku serve`` process (a machine of the fleet); :meth:`wait` until it is ready."""

    def __init__(self, env: dict[str, str], cwd: Path, *, create: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--port", str(self.port),
                                          *(["--create"] if create else [])],
                                         cwd=cwd, env=_env(env), stdout=out, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kasoku serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kasoku serve did not get ready: {self.log.read_text()[-2000:]}")

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def machines(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[list[Machine]]:
    # Both start at once on the empty catalog, both with --create (as the compose file's
    # replicas do): one initialises the DuckLake in PostgreSQL, the other waits its turn.
    started = [Machine(fleet_env, tmp_path, create=True) for _ in range(2)]
    try:
        for machine in started:
            machine.wait()
        yield started
    finally:
        for machine in started:
            machine.stop()


def _export(path: Path, indices: range) -> Path:
    """An extended-history export; play i is at its own second, one of 7 tracks."""
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    records = [{"ts": (start + timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "ms_played": 120_000 + i,
                "master_metadata_track_name": f"Song {i % 7}", "master_metadata_album_artist_name": f"Artist {i % 3}",
                "master_metadata_album_album_name": "Album", "spotify_track_uri": f"spotify:track:fleet{i % 7}"}
               for i in indices]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(records))
    return path


def _plays_total(machine: Machine) -> int:
    rows = machine.get("/v1/listening/top-tracks?start=2024-03-01&end=2024-03-31&limit=50")["data"]
    return sum(int(row["play_count"]) for row in rows)


def test_a_missing_lake_is_refused_without_create_and_the_password_never_shows(
        fleet_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = _kasoku(fleet_env, "serve", "--port", str(free_port()), cwd=tmp_path)
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "no lake in the catalog" in out and "--create" in out, out
    assert "password=***" in out and PASSWORD not in out

    from kasoku.cli import check_serve
    from kasoku.config import Settings
    from kasoku.domains.listening.domain import lake_from_settings, prepare_lake

    for name, value in fleet_env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    prepare_lake(lake_from_settings(settings))  # what `serve --create` does first
    check_serve(settings, create=False)  # now there is a lake: no --create needed


def test_two_servers_and_two_writers_share_one_postgres_catalog(
        machines: list[Machine], fleet_env: dict[str, str], tmp_path: Path) -> None:
    first, second = machines
    assert _plays_total(first) == 0 and _plays_total(second) == 0  # cached: an empty March
    a = _export(tmp_path / "a" / "Streaming_History_Audio_2024_0.json", range(0, 900))
    b = _export(tmp_path / "b" / "Streaming_History_Audio_2024_0.json", range(600, 1500))
    union = 1500  # plays 600-899 are in both exports

    writers = [subprocess.Popen([sys.executable, "-m", "kasoku", "ingest", "listening", str(path), "--user", "me"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(fleet_env), cwd=tmp_path)
               for path in (a, b)]
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, out + err
        assert PASSWORD not in out + err

    lake = Lake(fleet_env["KASOKU_LAKE"], _s3(fleet_env), catalog=fleet_env["KASOKU_CATALOG"])
    con = lake.connect(read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT play_id) FROM lake.plays").fetchone() or (0, 0)
        by_time = con.execute("SELECT count(DISTINCT (played_at, track_id)) FROM lake.plays").fetchone()
        writes = con.execute("SELECT count(*) FROM ducklake_snapshots('lake') WHERE commit_message LIKE 'ingest%'").fetchone()
    finally:
        con.close()
    assert (total, distinct) == (union, union)  # every play exactly once
    assert by_time == (union,)
    assert writes is not None and writes[0] == 2  # both writers committed (one of them possibly after a retry)

    deadline = time.monotonic() + POLL + MARGIN  # each server follows the snapshot by itself
    seen = {m.url: 0 for m in machines}
    while time.monotonic() < deadline and any(v != union for v in seen.values()):
        for machine in machines:
            seen[machine.url] = _plays_total(machine)
        time.sleep(0.2)
    assert seen == {first.url: union, second.url: union}

    status = _kasoku(fleet_env, "lake", "status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "ducklake:postgres:" in status.stdout and "password=***" in status.stdout
    assert PASSWORD not in status.stdout + status.stderr


def _s3(env: dict[str, str]) -> Any:
    from kasoku.lake.ducklake import S3Options

    return S3Options(endpoint=env["KASOKU_S3__ENDPOINT"], access_key_id=env["KASOKU_S3__ACCESS_KEY_ID"],
                     secret_access_key=env["KASOKU_S3__SECRET_ACCESS_KEY"], region=env["KASOKU_S3__REGION"],
                     url_style="path", use_ssl=False)
