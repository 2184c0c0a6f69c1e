"""Artist metadata (genres, images) for artists never seen before: one request each, cached for good.

Since February 2026 a Development Mode app has no bulk artists endpoint, so each new artist
costs one ``GET /v1/artists/{id}``: never per play, only for ids not in the cache
(``<state>/spotify/artists.json``), paced (``spotify.artist_pace`` seconds apart), at most
``spotify.artists_per_poll`` per round. The queue and the cache are written after every
artist, so a stop (429, crash) resumes where it was. Fetched objects go to the lake through
the ingest's existing artists path (a ``{"artists": [...]}`` document → the ``artists`` table);
``pending`` remembers those not ingested yet, so a failed ingest is retried next round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kasoku.config import Settings
from kasoku.domains.listening.collector.api import SpotifyApi, SpotifyError
from kasoku.domains.listening.collector.paths import file_lock, spotify_dir
from kasoku.domains.listening.collector.sink import ingest_document
from kasoku.errors import KasokuError
from kasoku.state import write_private

log = logging.getLogger(__name__)


@dataclass
class ArtistCache:
    artists: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {id, name, genres, images}
    queue: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids Spotify answered 404 for
    pending: list[str] = field(default_factory=list)  # fetched, not yet in the lake
    requests: int = 0


@dataclass
class ArtistRound:
    fetched: int = 0
    queued: int = 0
    ingested: int = 0
    error: str | None = None


class ArtistMetadata:
    def __init__(self, settings: Settings, lake: Any, api: SpotifyApi, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.lake = lake
        self.api = api
        self.sleep = sleep
        self.path: Path = spotify_dir(settings.state) / "artists.json"
        self.lock = spotify_dir(settings.state) / "artists.lock"

    def load(self) -> ArtistCache:
        try:
            return ArtistCache(**orjson.loads(self.path.read_bytes()))
        except FileNotFoundError:
            return ArtistCache()

    def _save(self, cache: ArtistCache) -> None:
        write_private(self.path, orjson.dumps(cache.__dict__))

    def enqueue(self, ids: Iterable[str]) -> int:
        """Queue ids never seen before; returns how many were new."""
        with file_lock(self.lock):
            cache = self.load()
            known = set(cache.artists) | set(cache.queue) | set(cache.missing)
            fresh = [i for i in dict.fromkeys(ids) if i not in known]
            if fresh:
                cache.queue.extend(fresh)
                self._save(cache)
            return len(fresh)

    def run(self, *, user_id: str, limit: int | None = None) -> ArtistRound:
        """Fetch up to ``limit`` queued artists (paced), then ingest every fetched, pending one."""
        limit = self.settings.spotify.artists_per_poll if limit is None else limit
        done = ArtistRound()
        with file_lock(self.lock):
            cache = self.load()
            for n, artist_id in enumerate(list(cache.queue[:limit])):
                if n:
                    self.sleep(self.settings.spotify.artist_pace)
                try:
                    found = self.api.artist(artist_id)
                except SpotifyError as exc:  # 429 beyond the cap, 403, 5xx after retries: resume next round
                    done.error = exc.message
                    break
                cache.requests += 1
                cache.queue.remove(artist_id)
                if found is None:
                    cache.missing.append(artist_id)
                else:
                    cache.artists[artist_id] = {"id": artist_id, "name": found.get("name") or artist_id,
                                                "genres": [str(g) for g in found.get("genres") or []],
                                                "images": found.get("images") or []}
                    cache.pending.append(artist_id)
                    done.fetched += 1
                self._save(cache)  # resumable after every artist
            done.queued = len(cache.queue)
            if cache.pending:
                objects = [{"type": "artist", **{k: cache.artists[i][k] for k in ("id", "name", "genres")}}
                           for i in cache.pending]
                try:
                    ingest_document(self.lake, {"artists": objects}, name="artists.json", user_id=user_id,
                                    settings=self.settings)
                except KasokuError as exc:
                    done.error = exc.message
                    return done
                done.ingested = len(cache.pending)
                cache.pending = []
                self._save(cache)
        if done.error:
            log.warning("artist metadata: %s (%d still queued)", done.error, done.queued)
        return done
