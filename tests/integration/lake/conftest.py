"""Lake contract fixtures: the same tests run on a local directory and on S3 (moto)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from kasoku.domains.listening.schema import PLAYS_SCHEMA, play_id
from kasoku.lake.storage import Lake, S3Options
from tests.conftest import S3Lake

ARTISTS = ["Aimer", "YOASOBI", "Perfume", "Ado", "King Gnu"]
TRACKS = ["Zankyosanka", "Idol", "Polyrhythm", "Usseewa", "Hakujitsu", "Yoru ni Kakeru"]


def make_plays(month: str, n: int, *, seed: int = 0, user: str = "u1", source: str = "extended") -> pa.Table:
    """``n`` deterministic plays inside ``month`` ('YYYY-MM'), in PLAYS_SCHEMA."""
    rng = random.Random(f"{month}:{seed}:{user}")
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=timezone.utc)
    rows: dict[str, list[object]] = {f.name: [] for f in PLAYS_SCHEMA}
    for i in range(n):
        artist, track = rng.choice(ARTISTS), rng.choice(TRACKS)
        at = start + timedelta(days=rng.randrange(28), seconds=rng.randrange(86400), microseconds=i)
        rows["play_id"].append(play_id(user, artist, track, at) + f"-{i}")
        rows["user_id"].append(user)
        rows["played_at"].append(at)
        rows["ms_played"].append(rng.randrange(1_000, 300_000))
        rows["track_id"].append(f"spotify:track:{track.lower().replace(' ', '')}")
        rows["track_name"].append(track)
        rows["artist_name"].append(artist)
        rows["album_name"].append(None)
        rows["platform"].append("linux")
        rows["country"].append("JP")
        rows["reason_start"].append("trackdone")
        rows["reason_end"].append("trackdone")
        rows["shuffle"].append(rng.random() < 0.5)
        rows["skipped"].append(False)
        rows["source"].append(source)
    return pa.table(rows, schema=PLAYS_SCHEMA)


@pytest.fixture(params=["local", "s3"])
def lake_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, S3Options | None]:
    """(url, s3 options) of an empty lake; ``s3_lake_url`` is only started for the s3 case."""
    if request.param == "local":
        return str(tmp_path / "lake"), None
    target: S3Lake = request.getfixturevalue("s3_lake_url")
    return target.url, target.s3


@pytest.fixture
def lake(lake_target: tuple[str, S3Options | None]) -> Iterator[Lake]:
    """An empty lake that removes replaced files at once (grace 0) so tests can see deletions."""
    url, s3 = lake_target
    yield Lake(url, s3, grace_seconds=0)
