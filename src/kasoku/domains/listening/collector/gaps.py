"""Never a silent gap: time ranges a poll may have missed, kept until an export fills them.

Recently-played keeps only the last 50 plays. When a poll's oldest returned play is newer than
the cursor (the newest play stored before), the plays in between may be lost to the poll
(more than 50 since the last poll, or the collector was down): the range is recorded as a
:class:`Gap` with bounds in Spotify's ``played_at`` (both exclusive).

A later export import closes a gap when it holds export plays on both sides of it (the
export then covers the whole range); its summary names the gaps it closed and how many plays
it brought inside each.

Storage sits behind :class:`GapStore`; :class:`FileGapStore` keeps one JSON file per user in
the state directory (until the lake has a table for it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import orjson

from kasoku.domains.listening.collector.paths import file_lock, spotify_dir, user_dir
from kasoku.state import write_private


@dataclass
class Gap:
    id: str
    user_id: str
    start: str  # ISO UTC: played_at of the newest play stored before the poll (exclusive)
    end: str  # ISO UTC: played_at of the oldest play the poll returned (exclusive)
    detected_at: str
    reason: str
    start_track: str = ""  # track_key of the play at ``start`` (the boundary plays are not in the gap)
    end_track: str = ""  # track_key of the play at ``end``
    closed_at: str | None = None
    closed_by: str | None = None
    filled: int | None = None  # export plays inside the range, counted when closed

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def seconds(self) -> float:
        return (parse_time(self.end) - parse_time(self.start)).total_seconds()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GapStore(Protocol):
    def list(self, user_id: str) -> list[Gap]: ...
    def add(self, gap: Gap) -> None: ...
    def close(self, user_id: str, gap_id: str, *, by: str, filled: int, at: datetime) -> None: ...


class FileGapStore:
    """Gaps in ``<state>/spotify/<user>/gaps.json`` (atomic 0600 writes, an fcntl lock around changes)."""

    def __init__(self, state: Path) -> None:
        self.state = state

    def _path(self, user_id: str) -> Path:
        return user_dir(self.state, user_id) / "gaps.json"

    def list(self, user_id: str) -> list[Gap]:
        try:
            rows = orjson.loads(self._path(user_id).read_bytes())
        except FileNotFoundError:
            return []
        return [Gap(**row) for row in rows]

    def _write(self, user_id: str, gaps: Sequence[Gap]) -> None:
        write_private(self._path(user_id), orjson.dumps([asdict(g) for g in gaps], option=orjson.OPT_INDENT_2))

    def add(self, gap: Gap) -> None:
        with file_lock(spotify_dir(self.state) / "gaps.lock"):
            self._write(gap.user_id, [*self.list(gap.user_id), gap])

    def close(self, user_id: str, gap_id: str, *, by: str, filled: int, at: datetime) -> None:
        with file_lock(spotify_dir(self.state) / "gaps.lock"):
            gaps = self.list(user_id)
            for gap in gaps:
                if gap.id == gap_id and gap.open:
                    gap.closed_at, gap.closed_by, gap.filled = iso(at), by, filled
            self._write(user_id, gaps)


def new_gap(user_id: str, start: datetime, end: datetime, *, now: datetime, reason: str,
            start_track: str = "", end_track: str = "") -> Gap:
    return Gap(id=uuid.uuid4().hex[:12], user_id=user_id, start=iso(start), end=iso(end), detected_at=iso(now),
               reason=reason, start_track=start_track, end_track=end_track)


@dataclass(frozen=True)
class ExportPlay:
    start: datetime  # end - ms_played
    end: datetime  # the export's ``ts``
    track: str  # schema.track_key(artist, track)


# The ingest's cross-source tolerance: Spotify's played_at is the play's start on some days and
# its end on others, and the export's ``ts`` is cut to the second.
TOLERANCE = timedelta(seconds=5)


def _is_boundary(play: ExportPlay, at: datetime, track: str) -> bool:
    return play.track == track and (abs(play.start - at) <= TOLERANCE or abs(play.end - at) <= TOLERANCE)


def closed_by_import(gaps: Iterable[Gap], plays: Sequence[ExportPlay]) -> list[tuple[Gap, int]]:
    """Open gaps an import covers — it holds a play starting at or before the gap's start and one
    ending at or after its end — each with the number of the import's plays inside the gap
    (played within the range, the two boundary plays the poll did see left out)."""
    if not plays:
        return []
    closed = []
    for gap in gaps:
        if not gap.open:
            continue
        start, end = parse_time(gap.start), parse_time(gap.end)
        if not (any(p.start <= start + TOLERANCE for p in plays) and any(p.end >= end - TOLERANCE for p in plays)):
            continue
        inside = sum(1 for p in plays if p.end > start + TOLERANCE and p.start < end - TOLERANCE
                     and not _is_boundary(p, start, gap.start_track) and not _is_boundary(p, end, gap.end_track))
        closed.append((gap, inside))
    return closed
