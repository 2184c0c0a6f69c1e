"""The DuckLake lake, run on a local directory and on S3 (moto server): attach, layout, snapshots,
transactions that commit all or nothing, writers that lose a commit race and retry."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from kasoku.errors import ConfigError
from kasoku.lake import extensions
from kasoku.lake.ducklake import Lake, current_snapshot
from kasoku.lake.transaction import WriteConflict, is_conflict, write
from tests.lake_files import data_files

DDL = ("CREATE TABLE IF NOT EXISTS lake.events (id INTEGER, ts TIMESTAMPTZ, v BIGINT)",
       "ALTER TABLE lake.events SET PARTITIONED BY (year(ts), month(ts))")


def create(con: duckdb.DuckDBPyConnection) -> None:
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' AND table_name = 'events'").fetchone()
    if not exists or not exists[0]:
        for sql in DDL:
            con.execute(sql)


def add(lake: Lake, start: int, n: int, month: str = "2024-01") -> int | None:
    def body(con: duckdb.DuckDBPyConnection) -> tuple[None, bool]:
        create(con)
        con.execute(f"INSERT INTO lake.events SELECT i, TIMESTAMPTZ '{month}-02 00:00:00+00' + to_minutes(i), i * 10 "
                    f"FROM range({start}, {start + n}) r(i)")
        return None, True
    return write(lake, body, message="test add").snapshot


def totals(lake: Lake, snapshot: int | None = None) -> list[tuple[object, ...]]:
    con = lake.connect(read_only=True)
    try:
        at = f" AT (VERSION => {snapshot})" if snapshot is not None else ""
        return con.execute(f"SELECT strftime(ts, '%Y-%m') AS m, count(*), sum(v) FROM lake.events{at} GROUP BY m ORDER BY m").fetchall()
    finally:
        con.close()


def test_attach_layout_and_snapshots(lake: Lake) -> None:
    first = add(lake, 0, 100, "2024-01")
    second = add(lake, 100, 50, "2024-02")
    assert first is not None and second is not None and second > first
    assert totals(lake) == [("2024-01", 100, 49500), ("2024-02", 50, sum(range(100, 150)) * 10)]
    assert totals(lake, first) == [("2024-01", 100, 49500)]  # an older snapshot stays readable
    files = data_files(lake)
    assert any("/events/year=2024/month=1/" in f for f in files) and any("/events/year=2024/month=2/" in f for f in files)
    if lake.is_s3:
        assert Path(lake.catalog).is_file()  # data on S3, catalog in the local SQLite file
    else:
        assert Path(lake.catalog).name == "catalog.sqlite" and Path(lake.catalog).parent == Path(lake.data_path).parent


def test_extensions_load_by_path_never_downloaded(lake: Lake) -> None:
    con = lake.connect(read_only=True)
    try:
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%extensions'").fetchall())
        loaded = {r[0] for r in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    finally:
        con.close()
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    assert {"ducklake", "sqlite_scanner"} <= loaded and (("httpfs" in loaded) == lake.is_s3)
    assert extensions.ducklake_path().is_file() and extensions.sqlite_path().is_file()


def test_a_failing_transaction_changes_nothing(lake: Lake) -> None:
    base = add(lake, 0, 10)
    before = totals(lake)

    def dies(con: duckdb.DuckDBPyConnection) -> tuple[None, bool]:
        con.execute("INSERT INTO lake.events SELECT i, TIMESTAMPTZ '2024-03-01 00:00:00+00', 1 FROM range(5000) r(i)")
        con.execute("DELETE FROM lake.events WHERE id < 5")
        raise OSError("disk full (injected)")

    with pytest.raises(OSError, match="injected"):
        write(lake, dies, message="test dies")
    con = lake.connect(read_only=True)
    try:
        assert current_snapshot(con) == base
    finally:
        con.close()
    assert totals(lake) == before


def test_unchanged_body_makes_no_snapshot(lake: Lake) -> None:
    base = add(lake, 0, 3)
    done = write(lake, lambda con: ("nothing", False), message="noop")
    assert done.snapshot is None and done.value == "nothing"
    con = lake.connect(read_only=True)
    try:
        assert current_snapshot(con) == base
    finally:
        con.close()


def test_two_writers_at_once_both_land_the_second_retries(lake: Lake) -> None:
    """Both read the same snapshot and write; the later commit fails cleanly and reruns on the new one."""
    add(lake, 0, 1)
    both_read = threading.Barrier(2, timeout=30)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def writer(name: str, value: int) -> None:
        def body(con: duckdb.DuckDBPyConnection) -> tuple[None, bool]:
            n = con.execute("SELECT count(*) FROM lake.events").fetchone()[0]  # type: ignore[index]
            seen[name].append(n)
            if len(seen[name]) == 1:
                both_read.wait()  # both transactions are open on the same snapshot
            con.execute(f"INSERT INTO lake.events VALUES ({value}, TIMESTAMPTZ '2024-01-05 00:00:00+00', {n})")
            return None, True
        results[name] = write(lake, body, message=f"writer {name}").attempts

    results: dict[str, int] = {}
    threads = [threading.Thread(target=writer, args=(n, v)) for n, v in (("a", 100), ("b", 200))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # One committed on its first attempt; the other lost at least once. More than one retry is
    # possible and correct: on S3 the winner's commit can still hold the catalog when the loser
    # retries, and that counts as another lost race.
    assert min(results.values()) == 1 and max(results.values()) >= 2, results
    con = lake.connect(read_only=True)
    try:
        rows = dict(con.execute("SELECT id, v FROM lake.events WHERE id >= 100").fetchall())
    finally:
        con.close()
    # The retry read the other's row: each writer saw what was committed before it.
    assert sorted(rows.values()) == [1, 2]


def test_a_writer_that_keeps_losing_gives_up_cleanly(lake: Lake) -> None:
    add(lake, 0, 1)

    def always_beaten(con: duckdb.DuckDBPyConnection) -> tuple[None, bool]:
        add(lake, 1000 + len(calls), 1)  # another writer commits while this transaction is open
        calls.append(1)
        con.execute("INSERT INTO lake.events VALUES (1, TIMESTAMPTZ '2024-01-05 00:00:00+00', 0)")
        return None, True

    calls: list[int] = []
    with pytest.raises(WriteConflict):
        write(lake, always_beaten, message="loser", attempts=2)
    assert len(calls) == 2
    assert [r[1] for r in totals(lake)] == [3]  # the first row + the two winners, nothing of the loser


def test_read_only_connection_cannot_write(lake: Lake) -> None:
    add(lake, 0, 1)
    con = lake.connect(read_only=True)
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("INSERT INTO lake.events VALUES (1, now(), 1)")
    finally:
        con.close()


def test_bad_lake_urls_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory, file:// or s3://"):
        Lake("ftp://x/y")
    with pytest.raises(ConfigError, match="bucket"):
        Lake("s3:///nobucket", catalog=str(tmp_path / "c.sqlite"))
    with pytest.raises(ConfigError, match="catalog"):
        Lake("s3://bucket/prefix")
    assert Lake(str(tmp_path / "l"), catalog="postgres:dbname=x").attach_target == "ducklake:postgres:dbname=x"
    assert Lake(str(tmp_path / "l"), catalog="sqlite:/c.db").attach_target == "ducklake:sqlite:/c.db"


def test_is_conflict_tells_races_from_errors() -> None:
    assert is_conflict(duckdb.TransactionException("Failed to commit: database is locked"))
    assert is_conflict(duckdb.TransactionException("Transaction conflict - attempting to insert"))
    assert not is_conflict(duckdb.BinderException("Referenced column x not found"))
    assert not is_conflict(OSError("database is locked"))


def test_an_embedded_lake_still_opens_after_its_directory_moved(tmp_path: Path) -> None:
    """DuckLake stores the data path it was created with; kasoku's embedded layout (catalog and
    data in one directory) follows the directory, so `mv lake elsewhere` keeps every play."""
    import shutil

    from kasoku.domains.listening.ingest import import_tables
    from tests.plays import make_plays

    before = tmp_path / "lake"
    import_tables(Lake(str(before)), make_plays("2024-01", 40))
    after = tmp_path / "moved" / "lake"
    after.parent.mkdir()
    shutil.move(str(before), str(after))
    con = Lake(str(after)).connect(read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM lake.plays").fetchone() == (40,)
    finally:
        con.close()
