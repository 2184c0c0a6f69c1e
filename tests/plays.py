"""Deterministic plays in PLAYS_SCHEMA for lake, listening and e2e tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from kasoku.domains.listening.schema import PLAYS_SCHEMA, play_id

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
