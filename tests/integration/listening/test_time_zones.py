"""Local time on the raw path: ranges are local days, buckets are local, DST days have 23/25 h,
min_ms drops short streams; the answers equal a plain Python count with zoneinfo."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kasoku.domains.listening.source import ListeningSource
from kasoku.domains.listening.tools import validate
from kasoku.errors import InvalidParameter
from kasoku.lake.duckdb_pool import DuckDBPool
from tests.plays import EPOCH, load_lake, plays_table

# Every 20 minutes from 2024-03-29 to 2024-04-02 UTC (Berlin's spring-forward day inside),
# ms alternating around the 30 s rule.
ROWS = [("u1", int((datetime(2024, 3, 29, tzinfo=timezone.utc) - EPOCH).total_seconds()) + i * 1200,
         10_000 if i % 3 == 0 else 45_000, i % 4, i % 5) for i in range(4 * 72)]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ListeningSource]:
    lake = load_lake(tmp_path_factory.mktemp("tz") / "lake", plays_table(ROWS), rollups=False)
    pool = DuckDBPool(lake, workers=1, threads=1)
    yield ListeningSource(lake, pool)
    pool.close()


def _local(tz: str) -> list[tuple[datetime, int]]:
    return [((EPOCH + timedelta(seconds=off)).astimezone(ZoneInfo(tz)), ms) for _, off, ms, _, _ in ROWS]


def _run(source: ListeningSource, tool: str, raw: dict[str, object]) -> list[dict[str, object]]:
    return asyncio.run(source.raw(tool, validate(tool, raw), "u1")).to_pylist()


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Asia/Kathmandu", "America/St_Johns", "Australia/Eucla", "UTC"])
@pytest.mark.parametrize("min_ms", [0, 30_000])
def test_local_days_and_hours_equal_a_python_count(source: ListeningSource, tz: str, min_ms: int) -> None:
    plays = [(t, ms) for t, ms in _local(tz) if ms >= min_ms and date(2024, 3, 30) <= t.date() <= date(2024, 4, 1)]
    days = _run(source, "listening_stats", {"start": "2024-03-30", "end": "2024-04-01", "tz": tz, "min_ms": min_ms})
    assert {d["period"]: d["track_count"] for d in days} == dict(Counter(t.strftime("%Y-%m-%d") for t, _ in plays))
    hours = _run(source, "hourly_pattern", {"start": "2024-03-30", "end": "2024-04-01", "tz": tz, "min_ms": min_ms})
    assert {(h["weekday"], h["hour"]): h["play_count"] for h in hours} == dict(
        Counter((t.isoweekday(), t.hour) for t, _ in plays))


def test_a_dst_day_has_23_hours_of_plays(source: ListeningSource) -> None:
    days = _run(source, "listening_stats", {"start": "2024-03-30", "end": "2024-04-01", "tz": "Europe/Berlin"})
    counts = {d["period"]: d["track_count"] for d in days}
    assert counts["2024-03-31"] == 23 * 3  # every 20 minutes, 23 local hours
    assert counts["2024-03-30"] == counts["2024-04-01"] == 24 * 3


def test_an_unknown_zone_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidParameter) as info:
        validate("top_tracks", {"tz": "Mars/Olympus_Mons"})
    assert info.value.status == 400
    assert "Mars/Olympus_Mons" in str(info.value)


def test_min_ms_drops_short_streams(source: ListeningSource) -> None:
    every = _run(source, "top_artists", {"limit": 100})
    long = _run(source, "top_artists", {"limit": 100, "min_ms": 30_000})
    assert sum(r["play_count"] for r in every) == len(ROWS)
    assert sum(r["play_count"] for r in long) == sum(1 for r in ROWS if r[2] >= 30_000)


def test_local_file_plays_are_counted_with_a_stable_id(tmp_path: Path) -> None:
    import orjson

    from kasoku.domains.listening.formats import read_sources
    from kasoku.domains.listening.schema import derived_track_id

    rec = {"ts": "2024-03-01T08:15:30Z", "ms_played": 200_000, "master_metadata_track_name": "Demo Take 3",
           "master_metadata_album_artist_name": "Me", "master_metadata_album_album_name": None,
           "spotify_track_uri": None, "episode_name": None, "spotify_episode_uri": None}
    path = tmp_path / "Streaming_History_Audio_2024.json"
    path.write_bytes(orjson.dumps([rec]))
    parsed = read_sources([path], user_id="u1")
    [row] = parsed.plays.to_pylist()
    assert row["track_id"] == derived_track_id("Me", "Demo Take 3") and row["source"] == "local"
    assert "no_metadata" not in parsed.skipped
