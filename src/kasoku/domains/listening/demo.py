"""A realistic, deterministic listening history, written in Spotify's own export formats.

The demo must exercise the real importer, so it writes what a user would download:
extended-history files, an overlapping account-data file and Web API polls (the same plays
again: the importer must dedupe them), podcast episodes (kept apart) and saved artist
objects with genres. Realism: Zipf-like track popularity that drifts month to month, a
daily rhythm (quiet nights, commute and evening peaks), busier weekends, ~20 % skips.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pyarrow as pa

from kasoku.domains.listening.schema import PLAYS_SCHEMA, derived_track_id, play_id

_SYLLABLES = ["ka", "so", "ku", "mi", "ra", "no", "yo", "ru", "hi", "ka", "ri", "to", "ki", "su", "ne", "ma", "ta", "sa"]
_WORDS = ["love", "night", "city", "blue", "dream", "fire", "rain", "summer", "ghost", "light", "river", "star", "echo",
          "neon", "tokyo", "heart", "signal", "paper", "glass", "moon", "wave", "gold", "silent", "storm", "velvet"]
_GENRES = ["j-pop", "j-rock", "anime", "city pop", "shoegaze", "indie pop", "vocaloid", "electronica", "jazz", "ambient",
           "hip hop", "r&b", "math rock", "idol", "visual kei", "lo-fi"]
_PLATFORMS = ["android", "ios", "linux", "windows", "web_player", "osx", "cast_to_device"]
# Relative listening by hour (UTC+0 used as local for the demo): quiet nights, commute, evening.
_HOURS = [2, 1, 1, 1, 1, 2, 5, 9, 10, 6, 5, 6, 8, 6, 5, 5, 6, 8, 10, 11, 12, 11, 8, 4]


@dataclass(frozen=True)
class Track:
    id: str
    name: str
    artist: str
    artist_id: str
    album: str
    duration_ms: int


@dataclass(frozen=True)
class Play:
    end: datetime
    ms_played: int
    track: Track
    platform: str
    country: str
    shuffle: bool
    skipped: bool
    reason_start: str
    reason_end: str


def _name(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).title()


def _base62(rng: random.Random, n: int = 22) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def catalogue(rng: random.Random, *, artists: int = 800, tracks: int = 5000) -> tuple[list[Track], dict[str, list[str]]]:
    names = sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).title() + rng.choice(["", " Band", "", " & The Waves"])
                    for _ in range(artists * 2)})[:artists]
    rng.shuffle(names)
    artist_ids = {a: _base62(rng) for a in names}
    genres = {a: rng.sample(_GENRES, rng.randint(1, 3)) for a in names}
    out = []
    artist_cum = _cumulative([1.0 / (r + 5) for r in range(artists)])
    for i in range(tracks):
        artist = rng.choices(names, cum_weights=artist_cum)[0] if i % 3 else names[i % artists]
        out.append(Track(_base62(rng), _name(rng, rng.randint(1, 3)), artist, artist_ids[artist], _name(rng, 2),
                         rng.randint(120_000, 360_000)))
    return out, {artist_ids[a]: [a, *genres[a]] for a in names}


def generate_plays(plays: int, *, seed: int = 7, years: int = 3, end: date | None = None) -> Iterator[Play]:
    """``plays`` plays over ``years`` years ending at ``end``, in time order. Deterministic per seed."""
    rng = random.Random(seed)
    tracks, _ = catalogue(rng)
    end = end or date(2026, 10, 31)
    start = end - timedelta(days=365 * years)
    days = (end - start).days + 1
    weights = [1.3 if (start + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)]
    total_w = sum(weights)
    hour_cum = _cumulative(_HOURS)
    # Zipf-like with a flattened head: the favourite track is ~1-2 % of plays, not a third.
    track_cum = _cumulative([1.0 / (r + 10) for r in range(len(tracks))])
    hot_cum = _cumulative([1.0 / (r + 3) for r in range(60)])
    emitted = 0
    for d in range(days):
        day = start + timedelta(days=d)
        want = round(plays * sum(weights[: d + 1]) / total_w) - emitted
        # Popularity drifts: each 30-day window reshuffles a slice of the ranking.
        window = random.Random(seed * 1000 + d // 30)
        ranking = list(range(len(tracks)))
        hot = window.sample(ranking, 60)
        times = sorted(rng.choices(range(24), cum_weights=hour_cum, k=want))
        for hour in times:
            if rng.random() < 0.35:
                track = tracks[rng.choices(hot, cum_weights=hot_cum)[0]]
            else:
                track = rng.choices(tracks, cum_weights=track_cum)[0]
            skipped = rng.random() < 0.2
            ms = rng.randint(1_500, 30_000) if skipped else int(track.duration_ms * rng.uniform(0.93, 1.0))
            at = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=timezone.utc)
            yield Play(at, ms, track, rng.choice(_PLATFORMS[:3]) if rng.random() < 0.8 else rng.choice(_PLATFORMS),
                       "JP" if rng.random() < 0.9 else rng.choice(["US", "KR", "TW", "FR"]), rng.random() < 0.4, skipped,
                       rng.choice(["trackdone", "clickrow", "fwdbtn"]), "fwdbtn" if skipped else "trackdone")
        emitted += want


def _cumulative(weights: list[float] | list[int]) -> list[float]:
    out: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _extended_record(p: Play) -> dict[str, object]:
    return {"ts": p.end.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": p.platform, "ms_played": p.ms_played,
            "conn_country": p.country, "ip_addr": "192.0.2.1", "master_metadata_track_name": p.track.name,
            "master_metadata_album_artist_name": p.track.artist, "master_metadata_album_album_name": p.track.album,
            "spotify_track_uri": f"spotify:track:{p.track.id}", "episode_name": None, "episode_show_name": None,
            "spotify_episode_uri": None, "audiobook_title": None, "audiobook_uri": None, "audiobook_chapter_uri": None,
            "audiobook_chapter_title": None, "reason_start": p.reason_start, "reason_end": p.reason_end,
            "shuffle": p.shuffle, "skipped": p.skipped, "offline": False, "offline_timestamp": int(p.end.timestamp()),
            "incognito_mode": False}


def _episode_record(rng: random.Random, at: datetime) -> dict[str, object]:
    show = rng.choice(["Tech Talk Tokyo", "Late Night Radio", "History Hour"])
    return {"ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": "ios", "ms_played": rng.randint(60_000, 3_000_000),
            "conn_country": "JP", "master_metadata_track_name": None, "master_metadata_album_artist_name": None,
            "master_metadata_album_album_name": None, "spotify_track_uri": None, "episode_name": f"{show} #{rng.randint(1, 300)}",
            "episode_show_name": show, "spotify_episode_uri": f"spotify:episode:{_base62(rng)}", "reason_start": "clickrow",
            "reason_end": "endplay", "shuffle": False, "skipped": None, "offline": False, "incognito_mode": False}


def write_demo_export(directory: Path, *, plays: int = 300_000, years: int = 3, seed: int = 7, end: date | None = None,
                      per_file: int = 25_000, progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write the export files; returns their paths (extended, account-data, Web API, artists)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed + 1)
    written: list[Path] = []
    chunk: list[dict[str, object]] = []
    recent: list[Play] = []
    first_year = last_year = None
    file_no = 0

    def flush() -> None:
        nonlocal chunk, file_no, first_year
        path = directory / f"Streaming_History_Audio_{first_year}-{last_year}_{file_no}.json"
        path.write_bytes(orjson.dumps(chunk))
        written.append(path)
        file_no, chunk, first_year = file_no + 1, [], None

    all_plays = list(generate_plays(plays, seed=seed, years=years, end=end))
    cutoff = all_plays[-1].end - timedelta(days=28) if all_plays else None
    for i, play in enumerate(all_plays):
        first_year = first_year or play.end.year
        last_year = play.end.year
        chunk.append(_extended_record(play))
        if rng.random() < 0.02:
            chunk.append(_episode_record(rng, play.end + timedelta(minutes=7)))
        if cutoff is not None and play.end >= cutoff:
            recent.append(play)
        if len(chunk) >= per_file:
            flush()
        if progress is not None and i % 5000 == 4999:
            progress(5000)
    if chunk:
        flush()
    if progress is not None:
        progress(len(all_plays) % 5000)
    # Account data: the last four weeks again, at minute precision and without ids.
    account = [{"endTime": p.end.strftime("%Y-%m-%d %H:%M"), "artistName": p.track.artist, "trackName": p.track.name,
                "msPlayed": p.ms_played} for p in recent]
    written.append(directory / "StreamingHistory_music_0.json")
    written[-1].write_bytes(orjson.dumps(account))
    # Two Web API polls of the last 50 full plays each (played_at = start of the play).
    full = [p for p in recent if not p.skipped]
    for n, batch in enumerate([full[-100:-50], full[-50:]]):
        items = [{"track": {"id": p.track.id, "name": p.track.name, "duration_ms": p.ms_played, "type": "track",
                            "artists": [{"id": p.track.artist_id, "name": p.track.artist}],
                            "album": {"id": _base62(rng), "name": p.track.album}, "explicit": False, "popularity": 50},
                  "played_at": (p.end - timedelta(milliseconds=p.ms_played)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                  "context": None} for p in reversed(batch)]
        path = directory / f"recently_played_{n}.json"
        path.write_bytes(orjson.dumps({"items": items, "next": None, "cursors": None, "limit": 50}))
        written.append(path)
    _, genres = catalogue(random.Random(seed))
    artists = [{"id": aid, "name": info[0], "genres": info[1:], "type": "artist"} for aid, info in genres.items()]
    path = directory / "artists.json"
    path.write_bytes(orjson.dumps({"artists": artists}))
    written.append(path)
    return written


def demo_plays_table(plays: int, *, seed: int = 7, years: int = 3, user_id: str = "me", end: date | None = None) -> pa.Table:
    """The same history straight into PLAYS_SCHEMA (benchmarks at 1 M / 10 M plays skip JSON)."""
    cols: dict[str, list[object]] = {name: [] for name in PLAYS_SCHEMA.names}
    for p in generate_plays(plays, seed=seed, years=years, end=end):
        cols["play_id"].append(play_id(user_id, p.track.artist, p.track.name, p.end))
        cols["user_id"].append(user_id)
        cols["played_at"].append(p.end)
        cols["ms_played"].append(p.ms_played)
        cols["track_id"].append(p.track.id or derived_track_id(p.track.artist, p.track.name))
        cols["track_name"].append(p.track.name)
        cols["artist_name"].append(p.track.artist)
        cols["album_name"].append(p.track.album)
        cols["platform"].append(p.platform)
        cols["country"].append(p.country)
        cols["reason_start"].append(p.reason_start)
        cols["reason_end"].append(p.reason_end)
        cols["shuffle"].append(p.shuffle)
        cols["skipped"].append(p.skipped)
        cols["source"].append("extended")
    return pa.table(cols, schema=PLAYS_SCHEMA)
