"""Lake storage contract, run on a local directory and on S3 (moto server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

import kasoku.lake.storage as storage
from kasoku.errors import InvalidParameter
from kasoku.lake.duckdb_pool import open_connection, parquet_source
from kasoku.lake.storage import Lake, S3Options
from tests.plays import make_plays

ROOT = Path(__file__).resolve().parents[3]


def all_data_files(lake: Lake) -> set[str]:
    """Every Parquet file physically present under the lake root (manifest or not)."""
    infos = lake._fs.get_file_info(pafs.FileSelector(lake._base, recursive=True, allow_not_found=True))
    return {i.path[len(lake._base) + 1:] for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")}


def query_totals(lake: Lake) -> list[tuple[object, ...]]:
    """What a reader sees through DuckDB: plays per month, via the manifest's file list."""
    files = lake.files("plays")
    if not files:
        return []
    con = open_connection(lake)
    try:
        return con.execute(f"SELECT year, month, count(*), sum(ms_played) FROM {parquet_source()} "
                           "GROUP BY ALL ORDER BY ALL", [files]).fetchall()
    finally:
        con.close()


def test_round_trip_keeps_schema_and_rows(lake: Lake) -> None:
    jan, feb = make_plays("2024-01", 50), make_plays("2024-02", 30)
    done = lake.commit({"plays": {"2024-01": jan, "2024-02": feb}})
    assert done.version == 1 and done.files_written == 2 and done.bytes_written > 0 and done.files_removed == 0
    assert done.tables_changed == {"plays": ["2024-01", "2024-02"]}
    assert lake.months("plays") == ["2024-01", "2024-02"]
    got = lake.read("plays", ["2024-01"])
    assert got is not None and got.schema == jan.schema  # tz of played_at kept
    assert got.equals(jan)
    assert lake.read("plays", ["2023-12"]) is None
    cols = lake.read("plays", ["2024-01", "2024-02"], columns=["track_id", "ms_played"])
    assert cols is not None and cols.column_names == ["track_id", "ms_played"] and cols.num_rows == 80
    files = lake.files("plays", ["2024-02", "2031-05"])  # month without data: silently absent
    assert len(files) == 1 and "/plays/year=2024/month=02/part-" in files[0]
    assert files[0].startswith("s3://") if lake.is_s3 else os.path.isfile(files[0])
    assert query_totals(lake) == [(2024, 1, 50, pa.compute.sum(jan["ms_played"]).as_py()),
                                  (2024, 2, 30, pa.compute.sum(feb["ms_played"]).as_py())]


def test_hive_layout_readable_by_glob(lake: Lake) -> None:
    lake.commit({"plays": {"2024-03": make_plays("2024-03", 10)}})
    con = open_connection(lake)
    root = lake.url.rstrip("/") if lake.is_s3 else str(Path(lake.url).resolve())
    rows = con.execute(f"SELECT year, month, count(*) FROM read_parquet('{root}/plays/*/*/*.parquet', "
                       "hive_partitioning=true) GROUP BY ALL").fetchall()
    assert rows == [(2024, "03", 10)]  # plain glob: DuckDB infers the zero-padded month as text


def test_replace_partition_removes_old_file(lake: Lake) -> None:
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 5), "2024-02": make_plays("2024-02", 5)}})
    old = lake.files("plays", ["2024-01"])
    new = make_plays("2024-01", 7, seed=1)
    done = lake.commit({"plays": {"2024-01": new}})
    assert done.version == 2 and done.files_written == 1 and done.files_removed == 1
    assert lake.files("plays", ["2024-01"]) != old
    assert lake.read("plays", ["2024-01"]).equals(new)  # type: ignore[union-attr]
    assert len(all_data_files(lake)) == 2


def test_drop_partition(lake: Lake) -> None:
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 5), "2024-02": make_plays("2024-02", 5)}})
    done = lake.commit({"plays": {"2024-01": None, "2024-02": make_plays("2024-02", 0)}})
    assert done.files_written == 0 and done.files_removed == 2
    assert lake.months("plays") == [] and lake.files("plays") == []
    assert lake.manifest().tables == {}
    assert all_data_files(lake) == set()


def test_multi_table_commit_is_one_version(lake: Lake) -> None:
    plays = make_plays("2024-05", 20)
    top = pa.table({"track_id": ["a", "b"], "play_count": [3, 2], "rank": [1, 2]})
    done = lake.commit({"plays": {"2024-05": plays}, "top_tracks_1m": {"2024-05": top}})
    assert done.version == 1 and done.tables_changed == {"plays": ["2024-05"], "top_tracks_1m": ["2024-05"]}
    assert lake.read("top_tracks_1m", ["2024-05"]).equals(top)  # type: ignore[union-attr]
    assert lake.months("plays") == lake.months("top_tracks_1m") == ["2024-05"]


def test_refresh_sees_other_writers_commit(lake: Lake, lake_target: tuple[str, S3Options | None]) -> None:
    reader = Lake(*lake_target)
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 3)}})
    assert reader.files("plays") == []  # cached: no storage read per call
    assert reader.refresh() is True and reader.manifest().version == 1
    assert reader.files("plays") == lake.files("plays")
    assert reader.refresh() is False


def test_bad_input_changes_nothing(lake: Lake) -> None:
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 3)}})
    before = (lake.manifest(), all_data_files(lake))
    for bad in ({"plays": {"2024-13": make_plays("2024-01", 1)}}, {"../x": {"2024-01": None}},
                {"plays": {"2024-02": [1, 2]}}, {"plays": {"2024-1": None}}):
        with pytest.raises(InvalidParameter):
            lake.commit(bad)  # type: ignore[arg-type]
    lake.refresh()
    assert (lake.manifest(), all_data_files(lake)) == before


def test_failure_mid_write_leaves_lake_unchanged(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.commit({"plays": {m: make_plays(m, 10) for m in ("2024-01", "2024-02")}})
    manifest, files, totals, physical = lake.manifest(), lake.files("plays"), query_totals(lake), all_data_files(lake)
    real = storage.write_parquet_file
    calls: list[str] = []

    def flaky(fs: pafs.FileSystem, path: str, table: pa.Table) -> int:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full (injected)")
        return real(fs, path, table)

    monkeypatch.setattr(storage, "write_parquet_file", flaky)
    progress: list[int] = []
    with pytest.raises(OSError, match="injected"):
        lake.commit({"plays": {m: make_plays(m, 99, seed=2) for m in ("2024-01", "2024-02", "2024-03", "2024-04")}},
                    progress=progress.append)
    assert progress == [1, 2]
    for view in (lake, Lake(lake.url, lake.s3)):  # the cached and the stored manifest
        view.refresh()
        assert view.manifest() == manifest and view.files("plays") == files and query_totals(view) == totals
    assert all_data_files(lake) == physical  # files written before the failure were removed


CRASH_CHILD = """
import json, os, sys
import pyarrow as pa
import kasoku.lake.storage as st
args = json.loads(sys.argv[1])
real, n = st.write_parquet_file, [0]
def crashing(fs, path, table):
    size = real(fs, path, table)
    n[0] += 1
    if n[0] == args["k"]:
        os._exit(17)  # a hard crash: no exception handler, no cleanup
    return size
st.write_parquet_file = crashing
lake = st.Lake(args["url"], st.S3Options(**args["s3"]) if args["s3"] else None)
lake.commit({"plays": {m: pa.table({"x": [1, 2, 3]}) for m in ("2024-01", "2024-02", "2024-03")}})
"""


def test_crash_mid_commit_leaves_orphans_that_vacuum_removes(lake: Lake) -> None:
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 10)}})
    manifest, files, totals, physical = lake.manifest(), lake.files("plays"), query_totals(lake), all_data_files(lake)
    args = {"url": lake.url, "s3": asdict(lake.s3) if lake.s3 else None, "k": 2}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", CRASH_CHILD, json.dumps(args)], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 17, proc.stderr.decode()
    lake.refresh()
    assert lake.manifest() == manifest and lake.files("plays") == files and query_totals(lake) == totals
    orphans = all_data_files(lake) - physical
    assert len(orphans) == 2
    assert lake.vacuum() == 2
    assert all_data_files(lake) == physical and query_totals(lake) == totals


def test_replaced_files_survive_grace_period(lake_target: tuple[str, S3Options | None]) -> None:
    now = [1_000.0]
    lake = Lake(*lake_target, grace_seconds=60, clock=lambda: now[0])
    stale = Lake(*lake_target)
    lake.commit({"plays": {"2024-01": make_plays("2024-01", 4)}})
    stale.refresh()
    old_files = stale.files("plays")
    done = lake.commit({"plays": {"2024-01": make_plays("2024-01", 6, seed=9)}})
    assert done.files_removed == 0 and lake.vacuum() == 0
    assert query_totals(stale)[0][2] == 4  # a reader on the old manifest still reads whole old data
    now[0] += 61
    done = lake.commit({"plays": {"2024-02": make_plays("2024-02", 1)}})
    assert done.files_removed == 1 and lake.manifest().retired == ()
    assert not set(old_files) & set(lake.files("plays"))


def test_concurrent_readers_see_old_or_new_never_a_mix(lake_target: tuple[str, S3Options | None]) -> None:
    months = ["2024-01", "2024-02", "2024-03"]
    writer = Lake(*lake_target, grace_seconds=600)

    def version_tables(v: int) -> dict[str, dict[str, pa.Table | None]]:
        return {"plays": {m: pa.table({"v": pa.array([v] * 50, pa.int64())}) for m in months},
                "meta": {"2024-01": pa.table({"v": pa.array([v], pa.int64())})}}

    writer.commit(version_tables(1))
    stop, seen, errors = threading.Event(), set(), []

    def read_loop() -> None:
        reader = Lake(*lake_target)
        con = duckdb.connect()
        try:
            while not stop.is_set():
                reader.refresh()
                snap = reader.manifest()
                plays = reader.read("plays", months)
                meta = reader.read("meta", ["2024-01"])
                got = set(plays["v"].to_pylist()) | set(meta["v"].to_pylist())  # type: ignore[index]
                if len(got) != 1 or plays.num_rows != 150 or got != {snap.version}:  # type: ignore[union-attr]
                    errors.append(f"mixed read: {got} at manifest v{snap.version}")
                seen.add(next(iter(got)))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))
        finally:
            con.close()

    threads = [threading.Thread(target=read_loop) for _ in range(3)]
    for t in threads:
        t.start()
    for v in range(2, 9):
        writer.commit(version_tables(v))
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(seen) >= 2
