"""One poll of recently-played for one user: read, detect a gap, write what is new, move the cursor.

Steps, all under the user's poll lock (an ``fcntl`` lock in the state directory, so two
collectors never poll the same user at once and a killed one releases it):

1. ``GET /v1/me/player/recently-played?limit=50&after=<cursor - overlap>`` — one HTTP call.
2. Gap: the cursor's own play is inside the overlap, so it comes back unless it fell out of
   the 50-play window. If the oldest returned play is newer than the cursor, the plays
   between may be lost to the poll: the range is recorded (``gaps.py``), never silently, in
   the lake table ``collector_gaps`` inside step 4's transaction.
3. Items whose key (``played_at`` ms + track id) the cursor file already lists are dropped.
   Nothing left: no lake write at all (the empty poll costs one HTTP call and a small
   state-file write).
4. The new items go to the ingest as one Web API document: one small commit per poll (with
   the gap, if any: a gap is never committed without its plays, nor plays without their gap).
   Exactly once by play identity: a re-read or a crash-and-retry writes the same play ids.
5. Only then the cursor file is replaced (atomically).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from kasoku.config import Settings
from kasoku.domains.listening.collector.api import SpotifyApi
from kasoku.domains.listening.collector.auth import TokenStore
from kasoku.domains.listening.collector.cursor import RECENT_MAX, Cursor, CursorStore
from kasoku.domains.listening.collector.gaps import Gap, new_gap, record_gap
from kasoku.domains.listening.collector.paths import file_lock, user_dir
from kasoku.domains.listening.collector.sink import ingest_document
from kasoku.domains.listening.ingest import IngestSummary
from kasoku.domains.listening.schema import track_key
from kasoku.domains.listening.tables import PLAYS, ensure_tables, ref
from kasoku.errors import KasokuError
from kasoku.lake.ducklake import Lake
from kasoku.lake.transaction import write

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    user_id: str
    http_calls: int = 0
    returned: int = 0
    new_items: int = 0
    written: int = 0  # plays the lake did not have yet
    gap: Gap | None = None  # the gap this poll detected
    gap_recorded: bool = False  # False: the same gap was in the lake already (a retried poll)
    summary: IngestSummary | None = None
    error: str | None = None
    new_artists: list[str] = field(default_factory=list)

    @property
    def committed(self) -> bool:
        return self.summary is not None and wrote(self.summary)


def wrote(summary: IngestSummary) -> bool:
    """Did the ingest change the lake? (A lake that inlines small writes adds no file for them.)"""
    return bool(summary.months_rewritten or getattr(summary, "artists_changed", False) or summary.files_written
                or getattr(summary, "snapshot", None) is not None)


def _played_ms(item: dict[str, Any]) -> int:
    text = str(item.get("played_at", "")).replace("Z", "+00:00")
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _key(item: dict[str, Any]) -> str:
    return f"{_played_ms(item)}:{(item.get('track') or {}).get('id')}"


def _track_key(item: dict[str, Any]) -> str:
    track = item.get("track") or {}
    artists = track.get("artists") or [{}]
    return track_key(str(artists[0].get("name") or ""), str(track.get("name") or ""))


def _artist_ids(items: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        for artist in (item.get("track") or {}).get("artists") or []:
            if isinstance(artist, dict) and isinstance(artist.get("id"), str):
                seen.setdefault(artist["id"])
    return list(seen)


OnCommit = Callable[[PollResult], None]


class Collector:
    """Polls one user's recently-played into the lake (``poll()``), safe to run from many processes."""

    def __init__(self, settings: Settings, lake: Lake, user_id: str, *, api: SpotifyApi | None = None,
                 on_commit: OnCommit | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.lake = lake
        self.user_id = user_id
        self.state: Path = settings.state
        self.cursors = CursorStore(self.state, user_id)
        self._events: list[tuple[str, dict[str, Any]]] = []
        self.api = api or SpotifyApi(settings.spotify, TokenStore(self.state, user_id), clock=clock,
                                     on_event=lambda kind, details: self._events.append((kind, details)))
        self.on_commit = on_commit
        self.clock = clock

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> "Collector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def poll(self) -> PollResult:
        with file_lock(user_dir(self.state, self.user_id) / "poll.lock"):
            cursor = self.cursors.load()
            calls_before = self.api.calls
            self._events.clear()
            result = PollResult(self.user_id)
            cursor.polls += 1
            cursor.last_poll_at = self.clock()
            try:
                self._poll(cursor, result)
            except KasokuError as exc:
                cursor.failed_polls += 1
                cursor.last_error = exc.message
                result.error = exc.message
                raise
            finally:
                result.http_calls = self.api.calls - calls_before
                cursor.http_calls += result.http_calls
                for kind, details in self._events:
                    if kind == "rate_limited":  # every 429, waited for or not
                        cursor.last_rate_limit = {**details, "at": self.clock()}
                        cursor.rate_limited += 1
                self.cursors.save(cursor)
            return result

    def _poll(self, cursor: Cursor, result: PollResult) -> None:
        overlap_ms = int(self.settings.spotify.overlap * 1000)
        stored = None if cursor.cursor_ms is not None else newest_stored_play(self.lake, self.user_id)
        since = cursor.cursor_ms if cursor.cursor_ms is not None else (stored[0] if stored else None)
        after = max(0, since - overlap_ms) if since is not None else None
        page = self.api.recently_played(after_ms=after)
        items = [i for i in page["items"] if isinstance(i, dict) and isinstance(i.get("played_at"), str)]
        result.returned = len(items)
        cursor.last_error = None
        if not items:
            cursor.empty_polls += 1
            cursor.last_success_at = self.clock()
            return
        items.sort(key=_played_ms)
        oldest, newest = items[0], items[-1]
        now = _at(int(self.clock() * 1000))
        if cursor.cursor_ms is not None and _played_ms(oldest) > cursor.cursor_ms:
            result.gap = new_gap(self.user_id, _at(cursor.cursor_ms), _at(_played_ms(oldest)), now=now,
                                 start_track=cursor.cursor_track, end_track=_track_key(oldest),
                                 reason="the poll's oldest play is newer than the cursor: more than 50 plays since "
                                        "the last poll, or the collector was not running")
        elif stored is not None and len(items) >= WINDOW and _played_ms(oldest) > stored[0]:
            # First poll over a lake that has plays (an export, or a lost state directory): the lake's
            # newest play is only known by its end, so only a full window proves plays may be missing.
            result.gap = new_gap(self.user_id, _at(stored[0]), _at(_played_ms(oldest)), now=now,
                                 start_track=stored[1], end_track=_track_key(oldest),
                                 reason="first poll: the 50-play window does not reach back to the newest play "
                                        "already in the lake")
        known = set(cursor.recent)
        new = [i for i in items if _key(i) not in known]
        result.new_items = len(new)
        gap = result.gap
        also = None if gap is None else (lambda con: self._record_gap(con, gap, result))
        if new:
            name = f"recently_played_{_played_ms(new[0])}_{_played_ms(new[-1])}.json"
            summary = ingest_document(self.lake, {"items": new}, name=name, user_id=self.user_id,
                                      settings=self.settings, also=also)
            result.summary = summary
            result.written = summary.new_plays
            result.new_artists = _artist_ids(new)
            cursor.plays_written += summary.new_plays
            if wrote(summary):
                cursor.last_commit_at = self.clock()
        else:
            cursor.empty_polls += 1
            if also is not None:  # (a gap comes with new plays; this is only a guard)
                write(self.lake, lambda con: (None, ensure_tables(con) | also(con)), message=f"gap user={self.user_id}")
        if cursor.cursor_ms is None or _played_ms(newest) >= cursor.cursor_ms:
            cursor.cursor_ms = _played_ms(newest)
            cursor.cursor_track = _track_key(newest)
        floor = cursor.cursor_ms - overlap_ms - 60_000
        cursor.recent = sorted({k for k in [*cursor.recent, *(_key(i) for i in items)] if int(k.split(":", 1)[0]) >= floor},
                               key=lambda k: int(k.split(":", 1)[0]))[-RECENT_MAX:]
        end = max(_played_ms(i) + int((i.get("track") or {}).get("duration_ms") or 0) for i in items) / 1000
        cursor.newest_play_end = max(cursor.newest_play_end or 0.0, end)
        cursor.last_success_at = self.clock()
        if result.committed and self.on_commit is not None:
            try:
                self.on_commit(result)
            except Exception:  # a failed notification must not undo a committed poll
                log.exception("collector: after-commit hook failed")

    def _record_gap(self, con: duckdb.DuckDBPyConnection, gap: Gap, result: PollResult) -> bool:
        """In the poll's transaction: the gap is committed with the plays, or not at all."""
        result.gap_recorded = record_gap(con, gap)
        if result.gap_recorded:
            log.warning("collector: possible gap for %s between %s and %s (import an export to fill it)",
                        self.user_id, gap.start, gap.end)
        return result.gap_recorded


WINDOW = 50  # recently-played keeps the last 50 plays


def newest_stored_play(lake: Lake, user_id: str) -> tuple[int, str] | None:
    """(end in ms, track key) of the user's newest play in the lake; None when it has none."""
    con = lake.connect(read_only=True)
    try:
        row = con.execute(f"SELECT epoch_ms(played_at), artist_name, track_name FROM {ref(PLAYS)} WHERE user_id = ? "
                          "ORDER BY played_at DESC LIMIT 1", [user_id]).fetchone()  # ms: no tz-aware datetimes (pytz)
    except duckdb.CatalogException:  # no plays table yet
        return None
    finally:
        con.close()
    return None if row is None else (int(row[0]), track_key(row[1], row[2]))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
