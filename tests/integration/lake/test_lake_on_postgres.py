"""kasoku's own lake (``Lake``, ingest, versions, maintenance) on a real PostgreSQL catalog with
the data on S3 (moto): everything that reads the catalog works there, and the password stays out
of what is printed."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from kasoku.domains.listening.ingest import import_tables
from kasoku.domains.listening.versions import changes_since
from kasoku.lake.ducklake import Lake
from kasoku.lake.maintenance import compact, status, vacuum
from kasoku.lake.transaction import is_conflict, write
from tests.conftest import S3Lake
from tests.plays import make_plays
from tests.services import PostgresServer, free_port

PASSWORD = "pw-" + uuid.uuid4().hex[:10]  # trust auth: accepted and ignored


@pytest.fixture
def pg_lake(postgres_server: PostgresServer, s3_lake_url: S3Lake) -> Lake:
    db = f"kl_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(db)
    catalog = f"postgres://{postgres_server.user}:{PASSWORD}@{postgres_server.host}:{postgres_server.port}/{db}"
    return Lake(s3_lake_url.url, s3_lake_url.s3, catalog=catalog)


def test_the_lake_lives_in_postgres_and_on_s3(pg_lake: Lake) -> None:
    assert not pg_lake.exists()  # an empty database: `serve` without --create refuses it
    con = pg_lake.connect(read_only=True)  # a reader on a new catalog creates the empty lake first
    con.close()
    assert pg_lake.exists()

    first = import_tables(pg_lake, make_plays("2024-02", 120, user="me"))
    second = import_tables(pg_lake, make_plays("2024-03", 80, user="me", seed=1))
    again = import_tables(pg_lake, make_plays("2024-03", 80, user="me", seed=1))
    assert (first.new_plays, second.new_plays, again.new_plays, again.snapshot) == (120, 80, 0, None)

    con = pg_lake.connect(read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT play_id) FROM lake.plays").fetchone() == (200, 200)
        files = [r[0] for r in con.execute("SELECT data_file FROM ducklake_list_files('lake', 'plays')").fetchall()]
        assert files and all(f.startswith(pg_lake.data_path) for f in files)  # Parquet on S3
        current, tags = changes_since(con, int(first.snapshot or 0))  # the engine's version read
        assert current == second.snapshot and tags is not None and "month:2024-03" in tags and "month:2024-02" not in tags
    finally:
        con.close()

    st = status(pg_lake)
    assert st.snapshot == second.snapshot and st.catalog.startswith("ducklake:postgres:") and "password=***" in st.catalog
    assert PASSWORD not in repr(st) and PASSWORD not in repr(pg_lake)
    assert compact(pg_lake).snapshot_after >= st.snapshot
    vacuum(pg_lake, retention=timedelta(0))
    con = pg_lake.connect(read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM lake.plays").fetchone() == (200,)
    finally:
        con.close()


def test_a_writer_that_loses_the_commit_race_on_postgres_reruns_on_the_new_snapshot(pg_lake: Lake) -> None:
    """Deterministic overlap: writer A has read the lake when writer B commits; A's commit fails
    on PostgreSQL and A's body runs again, now seeing B's row."""
    write(pg_lake, lambda con: (con.execute("CREATE TABLE lake.t (v INTEGER)"), True), message="setup")
    a_read, b_done = threading.Event(), threading.Event()
    seen: list[int] = []

    def body_a(con: duckdb.DuckDBPyConnection) -> tuple[None, bool]:
        seen.append(int((con.execute("SELECT count(*) FROM lake.t").fetchone() or (0,))[0]))
        con.execute("INSERT INTO lake.t VALUES (1)")
        if len(seen) == 1:
            a_read.set()
            assert b_done.wait(60)
        return None, True

    result: list[Any] = []
    a = threading.Thread(target=lambda: result.append(write(pg_lake, body_a, message="a")))
    a.start()
    assert a_read.wait(60)
    b = write(pg_lake, lambda con: (con.execute("INSERT INTO lake.t VALUES (2)"), True), message="b")
    b_done.set()
    a.join(60)
    assert b.attempts == 1 and result and result[0].attempts == 2
    assert seen == [0, 1]  # the rerun saw B's row
    con = pg_lake.connect(read_only=True)
    try:
        assert sorted(con.execute("SELECT v FROM lake.t").fetchall()) == [(1,), (2,)]
    finally:
        con.close()


def test_an_unreachable_catalog_is_an_error_without_the_password(tmp_path: object) -> None:
    lake = Lake(str(tmp_path), catalog=f"postgres://k:{PASSWORD}@127.0.0.1:{free_port()}/lake?connect_timeout=2")
    for attempt in (lake.exists, lake.connect):
        with pytest.raises(duckdb.Error) as caught:
            attempt()
        assert "password=***" in str(caught.value) and PASSWORD not in str(caught.value)


def test_postgres_commit_races_are_retried_and_connection_errors_are_not() -> None:
    assert is_conflict(duckdb.TransactionException(
        "Failed to commit DuckLake transaction.\nTransaction conflict - attempting to insert into table with index \"15\""))
    assert is_conflict(duckdb.TransactionException(
        'Failed to commit DuckLake transaction.\nExceeded the maximum retry count of 10 set by the ducklake_max_retry_count '
        'setting.\nduplicate key value violates unique constraint "ducklake_snapshot_pkey"'))
    assert is_conflict(duckdb.IOException("ERROR: could not serialize access due to concurrent update"))
    assert is_conflict(duckdb.IOException("ERROR: deadlock detected"))
    assert not is_conflict(duckdb.IOException('Unable to connect to Postgres at "host=db": Connection refused'))
