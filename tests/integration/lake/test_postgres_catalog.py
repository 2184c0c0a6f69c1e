"""DuckDB attaches a DuckLake whose catalog is a real PostgreSQL and whose data is on S3 (moto),
and two processes write to it at once: what the lake's multi-writer ``catalog`` setting needs.

Plain DuckDB on purpose (kasoku's lake is wired to it separately): this proves the engines
and extension packages the project pins do the job on their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import S3Lake
from tests.services import PostgresServer

from .ducklake_pg import LakeSpec, attach, spec_to_env

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def lake_spec(postgres_server: PostgresServer, s3_lake_url: S3Lake) -> Iterator[LakeSpec]:
    dsn = postgres_server.create_database(f"lake_{uuid.uuid4().hex[:10]}")
    s3 = s3_lake_url.s3
    bucket_prefix = s3_lake_url.url.rstrip("/") + "/ducklake/"
    yield LakeSpec(catalog_dsn=dsn, data_path=bucket_prefix, s3_endpoint=s3.endpoint or "", key_id=s3.access_key_id or "",
                   secret=s3.secret_access_key or "", region=s3.region)


def test_a_ducklake_on_a_postgres_catalog_keeps_data_on_s3(lake_spec: LakeSpec) -> None:
    con = attach(lake_spec)
    try:
        con.execute("CREATE TABLE lake.plays (writer INTEGER, commit_no INTEGER, i BIGINT)")
        con.execute("INSERT INTO lake.plays SELECT 0, 0, range FROM range(10)")
        assert con.execute("SELECT count(*), sum(i) FROM lake.plays").fetchone() == (10, 45)
        files = [r[0] for r in con.execute("SELECT data_file FROM ducklake_list_files('lake', 'plays')").fetchall()]
        assert files and all(f.startswith(lake_spec.data_path) for f in files)  # data on S3, not beside the catalog
        snapshots = con.execute("SELECT count(*) FROM lake.snapshots()").fetchone()
        assert snapshots is not None and snapshots[0] >= 2  # create + insert: the version a cache can follow
    finally:
        con.close()
    again = attach(lake_spec)  # another connection (another server) sees the same lake
    try:
        assert again.execute("SELECT count(*) FROM lake.plays").fetchone() == (10,)
    finally:
        again.close()


def test_two_processes_write_at_once_and_lose_nothing(lake_spec: LakeSpec, tmp_path: Path) -> None:
    setup = attach(lake_spec)
    try:
        setup.execute("CREATE TABLE lake.plays (writer INTEGER, commit_no INTEGER, i BIGINT)")
    finally:
        setup.close()
    commits, rows = 8, 50
    env = dict(os.environ, KASOKU_TEST_LAKE=spec_to_env(lake_spec), PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
    writers = [subprocess.Popen([sys.executable, "-m", "tests.integration.lake.ducklake_pg", str(w), str(commits), str(rows),
                                 str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for w in (1, 2)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{w}").exists() for w in (1, 2)):  # both attached: now write together
        assert all(p.poll() is None for p in writers), [p.communicate()[1].decode()[-2000:] for p in writers]
        assert time.monotonic() < deadline, "writers did not attach"
        time.sleep(0.02)
    (tmp_path / "go").touch()
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    con = attach(lake_spec)
    try:
        per_writer = dict(con.execute("SELECT writer, count(*) FROM lake.plays GROUP BY writer").fetchall())
        assert per_writer == {1: commits * rows, 2: commits * rows}
        distinct = con.execute("SELECT count(DISTINCT (writer, commit_no)) FROM lake.plays").fetchone()
        assert distinct == (2 * commits,)  # every transaction of both writers landed, none twice
    finally:
        con.close()
