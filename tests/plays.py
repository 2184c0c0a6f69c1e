"""Deterministic plays in PLAYS_SCHEMA for lake, listening and e2e tests."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from kasoku.domains.listening.formats import ARTISTS_SCHEMA
from kasoku.domains.listening.schema import PLAYS_SCHEMA, play_id
from kasoku.lake.ducklake import Lake

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
        rows["album_name"].append(f"{artist} Best" if i % 5 else None)
        rows["platform"].append("linux")
        rows["country"].append("JP")
        rows["reason_start"].append("trackdone")
        rows["reason_end"].append("trackdone")
        rows["shuffle"].append(rng.random() < 0.5)
        rows["skipped"].append(False)
        rows["source"].append(source)
    return pa.table(rows, schema=PLAYS_SCHEMA)


# Few names, some differing only in case, so ties and case-folding happen in property tests.
TIE_ARTISTS = ["Aimer", "YOASOBI", "Ado", "aimer"]
TIE_TRACKS = ["Idol", "Usseewa", "Yoru", "idol", "Zankyo"]
TIE_ALBUMS: list[str | None] = [None, "Best", "Live"]
EPOCH = datetime(2023, 11, 1, tzinfo=timezone.utc)


def plays_table(rows: list[tuple[str, int, int, int, int]]) -> pa.Table:
    """rows: (user_id, seconds after EPOCH, ms_played, artist index, track index)."""
    cols: dict[str, list[object]] = {f.name: [] for f in PLAYS_SCHEMA}
    for i, (user, offset, ms, a, t) in enumerate(rows):
        artist, track = TIE_ARTISTS[a % len(TIE_ARTISTS)], TIE_TRACKS[t % len(TIE_TRACKS)]
        at = EPOCH + timedelta(seconds=offset)
        cols["play_id"].append(f"{play_id(user, artist, track, at)}-{i}")
        cols["user_id"].append(user)
        cols["played_at"].append(at)
        cols["ms_played"].append(ms)
        cols["track_id"].append(f"spotify:track:{track}:{artist}")
        cols["track_name"].append(track)
        cols["artist_name"].append(artist)
        cols["album_name"].append(TIE_ALBUMS[(a + t) % len(TIE_ALBUMS)])
        for name in ("platform", "country", "reason_start", "reason_end", "shuffle", "skipped"):
            cols[name].append(None)
        cols["source"].append("extended")
    return pa.table(cols, schema=PLAYS_SCHEMA)


def random_plays(n: int, *, seed: int, users: tuple[str, ...] = ("u1", "u2"), days: int = 425) -> pa.Table:
    rng = random.Random(seed)
    return plays_table([(rng.choice(users), rng.randrange(days * 86400), rng.randrange(1, 300_000),
                         rng.randrange(len(TIE_ARTISTS)), rng.randrange(len(TIE_TRACKS))) for _ in range(n)])


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
                    schema=ARTISTS_SCHEMA)


def load_lake(target: Lake | Path | str, plays: pa.Table | Mapping[str, pa.Table], *, artists: pa.Table | None = None,
              rollups: bool = True) -> Lake:
    """Import plays (a table, or ``{month: table}`` as ``by_month`` gives) into a lake through the
    real ingest transaction; roll-ups built too unless ``rollups=False``."""
    from kasoku.domains.listening.ingest import import_tables
    from kasoku.domains.listening.rollup_build import RollupBuilder

    lake = target if isinstance(target, Lake) else Lake(str(target))
    table = plays if isinstance(plays, pa.Table) else pa.concat_tables(list(plays.values())) if plays else PLAYS_SCHEMA.empty_table()
    import_tables(lake, table, artists=artists, rollups=RollupBuilder(drop_only=not rollups))
    return lake
