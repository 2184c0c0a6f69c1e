"""Ingest into a real lake (local and S3): idempotent, deduped across sources, atomic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from kasoku.domains.listening.ingest import ingest
from kasoku.errors import InputError
from kasoku.lake import storage
from kasoku.lake.storage import Lake
from tests.conftest import S3Lake
from tests.unit.listening.test_formats import ACCOUNT, ARTISTS, EXTENDED, WEBAPI, write


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "local":
        return Lake(str(tmp_path / "lake"), grace_seconds=0)
    target: S3Lake = request.getfixturevalue("s3_lake_url")
    return Lake(target.url, target.s3, grace_seconds=0)


def export(tmp_path: Path) -> list[Path]:
    return [write(tmp_path / "Streaming_History_Audio_2024_0.json", EXTENDED),
            write(tmp_path / "StreamingHistory_music_0.json", ACCOUNT),
            write(tmp_path / "recently_played.json", WEBAPI), write(tmp_path / "artists.json", ARTISTS)]


def test_overlapping_sources_dedupe_and_reimport_changes_nothing(lake: Lake, tmp_path: Path) -> None:
    first = ingest(lake, export(tmp_path), user_id="me")
    # Extended: Idol (03-01 08:15:30) + Usseewa. Account: Idol at 08:15 (same play, minute precision)
    # + Zankyosanka. Web API: Idol started 03-07 10:00 (a different play).
    assert first.new_plays == 4 and first.duplicates == 1
    rows = lake.read("plays", ["2024-03"]).to_pylist()
    idol_0301 = [r for r in rows if r["track_name"] == "Idol" and r["played_at"].day == 1]
    assert len(idol_0301) == 1 and idol_0301[0]["source"] == "extended"
    assert lake.read("episodes", ["2024-03"]).num_rows == 1
    version = lake.manifest().version
    again = ingest(lake, export(tmp_path), user_id="me")
    assert again.new_plays == 0 and again.duplicates == again.plays_read and again.files_written == 0
    assert lake.manifest().version == version


def test_webapi_poll_then_full_export_keeps_one_play(lake: Lake, tmp_path: Path) -> None:
    poll = {"items": [{"track": {"id": "1hAloWiinXLPQUJxrJReb1", "name": "Idol", "duration_ms": 201000, "type": "track",
                                 "artists": [{"id": "a", "name": "YOASOBI"}], "album": {"id": "b", "name": "Idol"}},
                       "played_at": "2024-03-01T08:12:09.500Z"}]}
    ingest(lake, [write(tmp_path / "poll.json", poll)], user_id="me")
    assert lake.read("plays", ["2024-03"]).to_pylist()[0]["source"] == "webapi"
    summary = ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_0.json", EXTENDED[:1])], user_id="me")
    rows = lake.read("plays", ["2024-03"]).to_pylist()
    assert len(rows) == 1 and rows[0]["source"] == "extended" and summary.new_plays == 0


def test_bad_file_changes_nothing(lake: Lake, tmp_path: Path) -> None:
    ingest(lake, export(tmp_path), user_id="me")
    before = lake.manifest().to_json()
    bad = tmp_path / "Streaming_History_Audio_2024_1.json"
    bad.write_bytes(orjson.dumps(EXTENDED[:1] + [{"ts": "not-a-time", "ms_played": 3}]))
    more = write(tmp_path / "Streaming_History_Audio_2025_0.json", [dict(EXTENDED[0], ts="2025-01-01T00:00:00Z")])
    with pytest.raises(InputError, match=r"Streaming_History_Audio_2024_1.json \(record 1\)"):
        ingest(lake, [more, bad], user_id="me")
    lake.refresh()
    assert lake.manifest().to_json() == before and "2025-01" not in lake.months("plays")


def test_failure_mid_write_leaves_the_lake_as_it_was(lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(lake, export(tmp_path), user_id="me")
    before_manifest, before_rows = lake.manifest().to_json(), lake.read("plays", ["2024-03"])
    real, calls = storage.write_parquet_file, [0]

    def dies_on_second_file(*args: object) -> int:
        calls[0] += 1
        if calls[0] == 2:
            raise OSError("disk full (injected)")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "write_parquet_file", dies_on_second_file)
    months = [dict(EXTENDED[0], ts=f"2024-0{m}-02T00:00:00Z") for m in (3, 4, 5)]
    with pytest.raises(OSError):
        ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_9.json", months)], user_id="me")
    lake.refresh()
    assert lake.manifest().to_json() == before_manifest
    assert lake.read("plays", ["2024-03"]).equals(before_rows)
    assert lake.months("plays") == ["2024-03"]


def test_cli_reports_bad_input_in_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "Streaming_History_Audio_2024_0.json"
    bad.write_bytes(b"[{\"ts\": 12, \"ms_played\": 5}]")
    lake_dir = tmp_path / "lake"
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", str(bad), "--lake", str(lake_dir)],
                            capture_output=True, text=True, env={"PYTHONPATH": "src", "COLUMNS": "200"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Streaming_History_Audio_2024_0.json (record 0)" in result.stderr
    assert Lake(str(lake_dir)).months("plays") == []


def test_cli_ingest_prints_a_summary(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    result = subprocess.run([sys.executable, "-m", "kasoku", "ingest", "listening", *map(str, export(tmp_path)),
                             "--lake", str(lake_dir), "--user", "me"], capture_output=True, text=True,
                            env={"PYTHONPATH": "src", "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "new plays" in result.stdout and "duplicates" in result.stdout
    assert Lake(str(lake_dir)).months("plays") == ["2024-03"]


def test_a_webapi_play_across_a_month_boundary_matches_its_extended_row(lake: Lake, tmp_path: Path) -> None:
    """Web API first (the end it implies is in March), the full export months later (the play ended in February)."""
    poll = {"items": [{"track": {"id": "t1", "name": "Idol", "duration_ms": 240000, "type": "track",
                                 "artists": [{"id": "a", "name": "YOASOBI"}], "album": {"id": "b", "name": "Idol"}},
                       "played_at": "2024-02-29T23:58:00.000Z"}]}
    ingest(lake, [write(tmp_path / "poll.json", poll)], user_id="me")
    assert lake.months("plays") == ["2024-03"]
    # The user skipped after 90 s: the play ended in February.
    played = dict(EXTENDED[0], ts="2024-02-29T23:59:30Z", ms_played=90000)
    summary = ingest(lake, [write(tmp_path / "Streaming_History_Audio_2024_0.json", [played])], user_id="me")
    plays = [row for m in lake.months("plays") for row in lake.read("plays", [m]).to_pylist()]
    assert [(p["source"], p["played_at"].month) for p in plays] == [("extended", 2)]
    assert summary.new_plays == 0  # one play before, one play after


def test_boundary_match_with_rollups_keeps_rollups_equal_to_raw(tmp_path: Path) -> None:
    import asyncio

    from kasoku.domains.listening.rollup_build import RollupBuilder
    from kasoku.domains.listening.rollup_match import LakeRollups
    from kasoku.domains.listening.source import ListeningSource
    from kasoku.domains.listening.tools import validate
    from kasoku.lake.duckdb_pool import DuckDBPool

    lake = Lake(str(tmp_path / "lake"), grace_seconds=0)
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
            source = ListeningSource(lake, pool, LakeRollups(lake, pool))
            params = validate("top_tracks", {"start": "2024-02-01", "end": "2024-03-31", "limit": 10})
            return await source.rollups.answer("top_tracks", params, "me"), await source.raw("top_tracks", params, "me")  # type: ignore[union-attr]
        finally:
            pool.close()

    from_rollup, raw = asyncio.run(both())
    assert from_rollup is not None and from_rollup.equals(raw)
