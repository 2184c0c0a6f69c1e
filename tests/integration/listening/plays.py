"""Small generated play sets in PLAYS_SCHEMA, with few names so ties happen (a plain module, not a conftest)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from kasoku.domains.listening.schema import PLAYS_SCHEMA, play_id

ARTISTS = ["Aimer", "YOASOBI", "Ado", "aimer"]
TRACKS = ["Idol", "Usseewa", "Yoru", "idol", "Zankyo"]
EPOCH = datetime(2023, 11, 1, tzinfo=timezone.utc)


def plays_table(rows: list[tuple[str, int, int, int, int]]) -> pa.Table:
    """rows: (user_id, seconds after EPOCH, ms_played, artist index, track index)."""
    cols: dict[str, list[object]] = {f.name: [] for f in PLAYS_SCHEMA}
    for i, (user, offset, ms, a, t) in enumerate(rows):
        artist, track = ARTISTS[a % len(ARTISTS)], TRACKS[t % len(TRACKS)]
        at = EPOCH + timedelta(seconds=offset)
        cols["play_id"].append(f"{play_id(user, artist, track, at)}-{i}")
        cols["user_id"].append(user)
        cols["played_at"].append(at)
        cols["ms_played"].append(ms)
        cols["track_id"].append(f"spotify:track:{track}:{artist}")
        cols["track_name"].append(track)
        cols["artist_name"].append(artist)
        for name in ("album_name", "platform", "country", "reason_start", "reason_end", "shuffle", "skipped"):
            cols[name].append(None)
        cols["source"].append("extended")
    return pa.table(cols, schema=PLAYS_SCHEMA)


def random_plays(n: int, *, seed: int, users: tuple[str, ...] = ("u1", "u2"), days: int = 425) -> pa.Table:
    rng = random.Random(seed)
    return plays_table([(rng.choice(users), rng.randrange(days * 86400), rng.randrange(1, 300_000),
                         rng.randrange(len(ARTISTS)), rng.randrange(len(TRACKS))) for _ in range(n)])


def by_month(plays: pa.Table) -> dict[str, pa.Table]:
    """Split into 'YYYY-MM' partitions (what ingest hands the lake)."""
    import pyarrow.compute as pc

    keys = pc.strftime(plays["played_at"], format="%Y-%m")
    return {m: plays.filter(pc.equal(keys, m)) for m in sorted(set(keys.to_pylist()))}


def artists_table(genres: dict[str, list[str]]) -> pa.Table:
    """Saved Web API artist objects reduced to the lake's artists table."""
    names = sorted(genres)
    return pa.table({"artist_id": [f"id-{n}" for n in names], "artist_name": names,
                     "genres": [genres[n] for n in names]},
                    schema=pa.schema([("artist_id", pa.string()), ("artist_name", pa.string()),
                                      ("genres", pa.list_(pa.string()))]))
