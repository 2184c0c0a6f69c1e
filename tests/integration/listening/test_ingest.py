"""Ingest into a real DuckLake (local and S3): idempotent, deduped across sources, one transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typing import Any

import orjson
import pytest

from kasoku.domains.listening import ingest as ingest_module
from kasoku.domains.listening.ingest import ingest
from kasoku.domains.listening.tables import months_of
from kasoku.errors import InputError
from kasoku.lake.ducklake import Lake, current_snapshot
from tests.conftest import S3Lake
from tests.unit.listening.test_formats import ACCOUNT, ARTISTS, EXTENDED, WEBAPI, write


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    target: S3Lake = request.getfixturevalue("s3_lake_url")
    return target.lake()


def rows(lake: Lake, table: str = "plays") -> list[dict[str, Any]]:
    con = lake.connect(read_only=True)
    try:
        return con.execute(f"SELECT * FROM lake.{table} ORDER BY played_at, play_id").to_arrow_table().to_pylist()
    finally:
        con.close()


def snapshot(lake: Lake) -> int:
    con = lake.connect(read_only=True)
    try:
        return current_snapshot(con)
    finally:
        con.close()


def months(lake: Lake, table: str = "plays") -> list[str]:
    con = lake.connect(read_only=True)
    try:
        return months_of(con, table)
    finally:
        con.close()


def export(tmp_path: Path) -> list[Path]:
    return [write(tmp_path / "Streaming_History_Audio_2024_0.json", EXTENDED),
            write(tmp_path / "StreamingHistory_music_0.json", ACCOUNT),
            write(tmp_path / "recently_played.json", WEBAPI), write(tmp_path / "artists.json", ARTISTS)]


def test_overlapping_sources_dedupe_and_reimport_changes_nothing(lake: Lake, tmp_path: Path) -> None:
    first = ingest(lake, export(tmp_path), user_id="me")
    # Extended: Idol (03-01 08:15:30) + Usseewa. Account: Idol at 08:15 (same play, minute precision)
    # + Zankyosanka. Web API: Idol started 03-07 10:00 (a different play).
    assert first.new_plays == 4 and first.duplicates == 1 and first.snapshot is not None and first.attempts == 1
    plays = rows(lake)
    idol_0301 = [r for r in plays if r["track_name"] == "Idol" and r["played_at"].day == 1]
    assert len(idol_0301) == 1 and idol_0301[0]["source"] == "extended"
    assert len(rows(lake, "episodes")) == 1
    version = snapshot(lake)
    again = ingest(lake, export(tmp_path), user_id="me")
    assert again.new_plays == 0 and again.duplicates == again.plays_read and again.files_written == 0
    assert again.snapshot is None and snapshot(lake) == version and rows(lake) == plays


def test_webapi_poll_then_full_export_keeps_one_play(lake: Lake, tmp_path: Path) -> None:
    poll = {"items": [{"track": {"id": "1hAloWiinXLPQUJxrJReb1", "name": "Idol", "duration_ms": 201000, "type": "track",
                                 "artists": [{"id": "a", "name": "YOASOBI"}], "album": {"id": "b", "name": "Idol"}},
                       "played_at": "2024-03-01T08:12:09.500Z"}]}
    ingest(lake, [write(tmp_path / "poll.json", poll)], user_id="me")
    assert rows(lake)[0]["source"] == "webapi"
    summary = ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_0.json", EXTENDED[:1])], user_id="me")
    plays = rows(lake)
    assert len(plays) == 1 and plays[0]["source"] == "extended" and summary.new_plays == 0


def test_bad_file_changes_nothing(lake: Lake, tmp_path: Path) -> None:
    ingest(lake, export(tmp_path), user_id="me")
    before = (snapshot(lake), rows(lake))
    bad = tmp_path / "Streaming_History_Audio_2024_1.json"
    bad.write_bytes(orjson.dumps(EXTENDED[:1] + [{"ts": "not-a-time", "ms_played": 3}]))
    more = write(tmp_path / "Streaming_History_Audio_2025_0.json", [dict(EXTENDED[0], ts="2025-01-01T00:00:00Z")])
    with pytest.raises(InputError, match=r"Streaming_History_Audio_2024_1.json \(record 1\)"):
        ingest(lake, [more, bad], user_id="me")
    assert (snapshot(lake), rows(lake)) == before and "2025-01" not in months(lake)


def test_failure_mid_transaction_leaves_the_lake_as_it_was(lake: Lake, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Plays already inserted in the transaction, then the roll-ups fail: nothing of it is visible."""
    ingest(lake, export(tmp_path), user_id="me")
    before = (snapshot(lake), rows(lake), rows(lake, "episodes"))

    def dies(*args: object, **kwargs: object) -> list[str]:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(ingest_module.RollupBuilder, "__call__", dies)
    more = [dict(EXTENDED[0], ts=f"2024-0{m}-02T00:00:00Z") for m in (3, 4, 5)]
    with pytest.raises(OSError, match="injected"):
        ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_9.json", more)], user_id="me")
    assert (snapshot(lake), rows(lake), rows(lake, "episodes")) == before
    assert months(lake) == ["2024-03"]


def test_cli_reports_bad_input_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "Streaming_History_Audio_2024_0.json"
    bad.write_bytes(b"[{\"ts\": 12, \"ms_played\": 5}]")
    lake_dir = tmp_path / "lake"
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(bad), "--lake", str(lake_dir)],
                            capture_output=True, text=True, env={"PYTHONPATH": "src", "COLUMNS": "200"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Streaming_History_Audio_2024_0.json (record 0)" in result.stderr
    assert not (lake_dir / "catalog.sqlite").exists()  # nothing was written, not even the catalog


def test_cli_ingest_prints_a_summary(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", *map(str, export(tmp_path)),
                             "--lake", str(lake_dir), "--user", "me"], capture_output=True, text=True,
                            env={"PYTHONPATH": "src", "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "new plays" in result.stdout and "duplicates" in result.stdout
    assert "lake snapshot" in result.stdout and months(Lake(str(lake_dir))) == ["2024-03"]


def test_a_webapi_play_across_a_month_boundary_matches_its_extended_row(lake: Lake, tmp_path: Path) -> None:
    """Web API first (the end it implies is in March), the full export months later (the play ended in February)."""
    poll = {"items": [{"track": {"id": "t1", "name": "Idol", "duration_ms": 240000, "type": "track",
                                 "artists": [{"id": "a", "name": "YOASOBI"}], "album": {"id": "b", "name": "Idol"}},
                       "played_at": "2024-02-29T23:58:00.000Z"}]}
    ingest(lake, [write(tmp_path / "poll.json", poll)], user_id="me")
    assert months(lake) == ["2024-03"]
    # The user skipped after 90 s: the play ended in February.
    played = dict(EXTENDED[0], ts="2024-02-29T23:59:30Z", ms_played=90000)
    summary = ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_0.json", [played])], user_id="me")
    assert [(p["source"], p["played_at"].month) for p in rows(lake)] == [("extended", 2)]
    assert summary.new_plays == 0  # one play before, one play after


def test_boundary_match_with_rollups_keeps_rollups_equal_to_raw(tmp_path: Path) -> None:
    import asyncio

    from kasoku.domains.listening.rollup_build import RollupBuilder
    from kasoku.domains.listening.rollup_match import LakeRollups
    from kasoku.domains.listening.snapshots import SnapshotCatalog
    from kasoku.domains.listening.source import ListeningSource
    from kasoku.domains.listening.tools import validate
    from kasoku.lake.duckdb_pool import DuckDBPool

    lake = Lake(str(tmp_path / "lake"))
    poll = {"items": [{"track": {"id": "t1", "name": "Idol", "duration_ms": 240000, "type": "track",
                                 "artists": [{"id": "a", "name": "YOASOBI"}], "album": {"id": "b", "name": "Idol"}},
                       "played_at": "2024-02-29T23:58:00.000Z"}]}
    ingest(lake, [write(tmp_path / "poll.json", poll), write(tmp_path / "e1.json", EXTENDED)], user_id="me",
           rollups=RollupBuilder())
    played = dict(EXTENDED[0], ts="2024-02-29T23:59:30Z", ms_played=90000)
    ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_0.json", [played])], user_id="me", rollups=RollupBuilder())

    async def both() -> tuple[object, object]:
        pool = DuckDBPool(lake, workers=1)
        try:
            catalog = SnapshotCatalog(pool)
            matcher = LakeRollups(pool, catalog)
            source = ListeningSource(lake, pool, matcher, catalog)
            params = validate("top_tracks", {"start": "2024-02-01", "end": "2024-03-31", "limit": 10})
            snap = await catalog.current()
            return await matcher.answer("top_tracks", params, "me", snap), await source.raw("top_tracks", params, "me", snap)
        finally:
            pool.close()

    from_rollup, raw = asyncio.run(both())
    assert from_rollup is not None and from_rollup.equals(raw)
