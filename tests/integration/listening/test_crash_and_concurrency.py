"""Processes against one lake: two ingests at once land every play exactly once; a process killed
(os._exit, no cleanup) anywhere in an ingest or a compaction leaves the previous snapshot's answers
byte-identical, a re-run lands exactly once, and vacuum removes what the kill left behind."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from kasoku.domains.listening.ingest import ingest
from kasoku.domains.listening.rollup_match import LakeRollups
from kasoku.domains.listening.rollup_status import rollup_status
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import ListeningSource
from kasoku.engine.types import Query
from kasoku.lake.duckdb_pool import DuckDBPool
from kasoku.lake.ducklake import ALIAS, Lake
from kasoku.lake.maintenance import compact, vacuum
from tests.crash import KILLED, lake_args
from tests.lake_files import data_files

ROOT = Path(__file__).resolve().parents[3]
ARTISTS = ["Aimer", "YOASOBI", "Ado", "King Gnu", "Perfume"]
TRACKS = ["Idol", "Usseewa", "Yoru", "Zankyo", "Hakujitsu", "Polyrhythm", "Kaibutsu"]
CASES = [("top_tracks", {"start": "2024-01-01", "end": "2024-03-31", "limit": 20}),
         ("top_tracks", {"start": "2024-02-03", "end": "2024-05-09"}),
         ("top_artists", {"limit": 50}), ("listening_stats", {"granularity": "month"}),
         ("listening_stats", {"granularity": "week", "start": "2024-01-10", "end": "2024-04-20"}),
         ("hourly_pattern", {}), ("plays", {"start": "2024-02-01", "end": "2024-02-29", "limit": 1000}),
         ("search_tracks", {"q": "o", "limit": 100})]


def export(path: Path, first: int, last: int, *, months: int = 6) -> Path:
    """Extended-history plays number ``first``..``last - 1`` (the same number is the same play)."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    span = months * 30 * 86400
    records = [{"ts": (start + timedelta(seconds=(i * 7919) % span)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ms_played": 1000 + (i * 37) % 240_000, "master_metadata_track_name": TRACKS[i % len(TRACKS)],
                "master_metadata_album_artist_name": ARTISTS[(i // 3) % len(ARTISTS)],
                "spotify_track_uri": f"spotify:track:t{i % len(TRACKS)}", "platform": "linux"}
               for i in range(first, last)]
    path.write_text(json.dumps(records))
    return path


def child(job: dict[str, Any], *, wait: bool = True) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    return subprocess.Popen([sys.executable, "-m", "tests.crash", json.dumps(job)], env=env, cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_child(job: dict[str, Any]) -> int:
    proc = child(job)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, KILLED), err.decode()[-3000:]
    return proc.returncode


def ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def answers(lake: Lake) -> list[bytes]:
    """Every case's answer through the source (roll-ups where they answer), as Arrow IPC bytes."""
    async def run() -> list[bytes]:
        pool = DuckDBPool(lake, workers=1)
        try:
            catalog = SnapshotCatalog(pool)
            source = ListeningSource(lake, pool, LakeRollups(pool, catalog), catalog)
            return [ipc((await source.run(Query("listening", tool, params, "me"))).table) for tool, params in CASES]
        finally:
            pool.close()
    return asyncio.run(run())


def play_ids(lake: Lake) -> list[str]:
    con = lake.connect(read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT play_id FROM lake.plays ORDER BY play_id").fetchall()]
    finally:
        con.close()


def catalogued(lake: Lake) -> set[str]:
    """Data and delete files the catalog still names (relative to the data path, as data_files gives them)."""
    con = lake.connect(read_only=True)
    try:
        meta = f"__ducklake_metadata_{ALIAS}"
        rows = con.execute(f"""
            SELECT s.path || t.path || f.path FROM {meta}.ducklake_data_file f
              JOIN {meta}.ducklake_table t USING (table_id) JOIN {meta}.ducklake_schema s USING (schema_id)
             WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL
            UNION ALL
            SELECT s.path || t.path || f.path FROM {meta}.ducklake_delete_file f
              JOIN {meta}.ducklake_table t USING (table_id) JOIN {meta}.ducklake_schema s USING (schema_id)
             WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL""").fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    return request.getfixturevalue("s3_lake_url").lake()  # type: ignore[no-any-return]


def test_two_ingest_processes_at_once_land_every_play_exactly_once(lake: Lake, tmp_path: Path) -> None:
    a, b = export(tmp_path / "a.json", 0, 2500), export(tmp_path / "b.json", 1500, 4000)  # 1000 plays in both
    go = tmp_path / "go"
    outs = [tmp_path / "out-a.json", tmp_path / "out-b.json"]
    procs = [child({"job": "ingest", "lake": lake_args(lake), "paths": [str(p)], "go": str(go), "out": str(o)})
             for p, o in ((a, outs[0]), (b, outs[1]))]
    go.write_text("go")  # both children start their ingest together
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
    summaries = [json.loads(o.read_text()) for o in outs]
    ids = play_ids(lake)
    assert len(ids) == 4000 and len(set(ids)) == 4000
    assert sum(s["new_plays"] for s in summaries) == 4000  # each reported exactly what it added
    assert rollup_status(lake).fresh


@pytest.mark.parametrize("kill", ["after:INSERT INTO lake.plays", "before:DELETE FROM lake.rollup_tracks_window",
                                  "before:COMMIT", "after:COMMIT"])
def test_an_ingest_killed_anywhere_leaves_the_previous_snapshot_and_reruns_exactly_once(
        kill: str, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, [export(tmp_path / "a.json", 0, 3000)], user_id="me")
    before, ids_before, files_before = answers(lake), play_ids(lake), catalogued(lake)
    more = export(tmp_path / "b.json", 2000, 5000)  # new plays in every month, 1000 already there
    assert run_child({"job": "ingest", "lake": lake_args(lake), "paths": [str(more)], "kill": kill}) == KILLED
    if kill != "after:COMMIT":
        assert answers(lake) == before and play_ids(lake) == ids_before  # byte for byte
        assert data_files(lake) >= files_before
    assert run_child({"job": "ingest", "lake": lake_args(lake), "paths": [str(more)]}) == 0
    ids = play_ids(lake)
    assert len(ids) == 5000 and len(set(ids)) == 5000 and rollup_status(lake).fresh
    # A lake that never saw a crash answers the same.
    clean = Lake(str(tmp_path / "clean"))
    for path in (tmp_path / "a.json", more):
        ingest(clean, [path], user_id="me")
    assert answers(lake) == answers(clean)
    # What the kill wrote and no snapshot names is removed by vacuum; what snapshots name stays.
    report = vacuum(lake, retention=timedelta(0))
    assert data_files(lake) == catalogued(lake)
    if kill in ("after:INSERT INTO lake.plays", "before:COMMIT"):
        assert report.orphans_deleted > 0
    assert answers(lake) == answers(clean)


@pytest.mark.parametrize("kill", ["after:CALL ducklake_flush_inlined_data", "before:CALL ducklake_merge_adjacent_files",
                                  "during:CALL ducklake_merge_adjacent_files:0.05", "after:CALL ducklake_merge_adjacent_files"])
def test_a_compaction_killed_anywhere_changes_no_answer(kill: str, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    for i in range(6):  # many small ingests: small files and inlined rows to compact
        ingest(lake, [export(tmp_path / f"e{i}.json", i * 300, i * 300 + (5 if i % 2 else 300))], user_id="me")
    before, ids = answers(lake), play_ids(lake)
    assert run_child({"job": "compact", "lake": lake_args(lake), "kill": kill}) in (0, KILLED)
    assert answers(lake) == before and play_ids(lake) == ids
    done = compact(lake)
    assert done.files_after <= done.files_flushed
    assert answers(lake) == before
    vacuum(lake, retention=timedelta(0))
    assert data_files(lake) == catalogued(lake) and answers(lake) == before
