"""Never a silent gap: time ranges a poll may have missed, kept in the lake until an export fills them.

Recently-played keeps only the last 50 plays. When a poll's oldest returned play is newer than
the cursor (the newest play stored before), the plays in between may be lost to the poll
(more than 50 since the last poll, or the collector was down): the range is recorded as a
:class:`Gap` with bounds in Spotify's ``played_at`` (both exclusive).

Gaps are rows of the lake table ``collector_gaps`` (``tables.py``), keyed by user and time
range, and are written only inside another write's transaction:

- :func:`record_gap` in the poll's own transaction, with the poll's plays: a gap is never
  recorded without its plays nor lost with them (``kill -9`` mid-poll leaves both or neither);
- :func:`close_covered` in an export import's transaction: a gap is closed when the import
  holds export plays on both sides of it (the export then covers the whole range); the
  import's summary names the gaps it closed and how many plays it brought inside each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.schema import track_key
from kasoku.domains.listening.tables import COLLECTOR_GAPS, ref

SUPERSEDED = "superseded by a wider gap"


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


@dataclass
class ClosedGap:
    gap: Gap
    filled: int  # export plays inside the gap

    def line(self) -> str:
        return f"gap {self.gap.start} .. {self.gap.end} closed: {self.filled} play(s) from the export inside it"

    def as_dict(self) -> dict[str, object]:
        return {"id": self.gap.id, "start": self.gap.start, "end": self.gap.end, "filled": self.filled}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_ms(ms: int | None) -> str | None:
    return None if ms is None else iso(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def new_gap(user_id: str, start: datetime, end: datetime, *, now: datetime, reason: str,
            start_track: str = "", end_track: str = "") -> Gap:
    return Gap(id=uuid.uuid4().hex[:12], user_id=user_id, start=iso(start), end=iso(end), detected_at=iso(now),
               reason=reason, start_track=start_track, end_track=end_track)


# ------------------------------------------------------------------ the lake table
_COLUMNS = ("gap_id, user_id, epoch_ms(gap_start), epoch_ms(gap_end), epoch_ms(detected_at), reason, start_track, "
            "end_track, epoch_ms(closed_at), closed_by, filled")  # ms: no tz-aware datetimes (pytz)


def _gap(row: tuple[Any, ...]) -> Gap:
    gid, user, start, end, detected, reason, start_track, end_track, closed, by, filled = row
    return Gap(id=str(gid), user_id=str(user), start=_iso_ms(start) or "", end=_iso_ms(end) or "",
               detected_at=_iso_ms(detected) or "", reason=reason or "", start_track=start_track or "",
               end_track=end_track or "", closed_at=_iso_ms(closed), closed_by=by,
               filled=None if filled is None else int(filled))


def list_gaps(con: duckdb.DuckDBPyConnection, user_id: str | None = None) -> list[Gap]:
    """The gaps of one user (or all), oldest range first; [] on a lake without the table yet."""
    where, args = ("WHERE user_id = ?", [user_id]) if user_id is not None else ("", [])
    try:
        rows = con.execute(f"SELECT {_COLUMNS} FROM {ref(COLLECTOR_GAPS)} {where} ORDER BY user_id, gap_start, detected_at",
                           args).fetchall()
    except duckdb.CatalogException:
        return []
    return [_gap(r) for r in rows]


def _close(con: duckdb.DuckDBPyConnection, gap: Gap, *, by: str, filled: int, at: datetime) -> None:
    con.execute(f"UPDATE {ref(COLLECTOR_GAPS)} SET closed_at = ?, closed_by = ?, filled = ? "
                "WHERE user_id = ? AND gap_id = ? AND closed_at IS NULL", [at, by, filled, gap.user_id, gap.id])


def record_gap(con: duckdb.DuckDBPyConnection, gap: Gap) -> bool:
    """Add ``gap`` inside the caller's transaction (the tables exist); True if the lake changed.

    One gap per cursor: a poll retried after a crash (same cursor, so the same start) keeps the
    gap already recorded, or widens it — the narrower one is closed as superseded.
    """
    start = parse_time(gap.start)
    for known in list_gaps(con, gap.user_id):
        if known.open and parse_time(known.start) == start:
            if parse_time(gap.end) <= parse_time(known.end):
                return False
            _close(con, known, by=SUPERSEDED, filled=0, at=parse_time(gap.detected_at))
    con.execute(f"INSERT INTO {ref(COLLECTOR_GAPS)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                [gap.id, gap.user_id, start, parse_time(gap.end), parse_time(gap.detected_at), gap.reason,
                 gap.start_track, gap.end_track])
    return True


# ------------------------------------------------------------------ closing by an export
@dataclass(frozen=True)
class ExportPlay:
    start: datetime  # end - ms_played
    end: datetime  # the export's ``ts``
    track: str  # schema.track_key(artist, track)


# The ingest's cross-source tolerance: Spotify's played_at is the play's start on some days and
# its end on others, and the export's ``ts`` is cut to the second.
TOLERANCE = timedelta(seconds=5)
EXPORT_SOURCES = ("extended", "account")


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


def export_plays(plays: pa.Table, user_id: str) -> list[ExportPlay]:
    """The export-format plays (extended, account) of one user in an import's plays table."""
    mine = plays.filter(pc.and_(pc.is_in(plays["source"], value_set=pa.array(EXPORT_SOURCES)),
                                pc.equal(plays["user_id"], user_id)))
    out = []
    ends = pc.cast(pc.cast(mine["played_at"], pa.timestamp("us", tz="UTC")), pa.int64())
    for end_us, ms, artist, track in zip(ends.to_pylist(), mine["ms_played"].to_pylist(),
                                         mine["artist_name"].to_pylist(), mine["track_name"].to_pylist(), strict=True):
        end = datetime.fromtimestamp(end_us / 1_000_000, tz=timezone.utc)
        out.append(ExportPlay(start=end - timedelta(milliseconds=ms or 0), end=end, track=track_key(artist, track)))
    return out


def close_covered(con: duckdb.DuckDBPyConnection, plays: pa.Table, *, by: str, now: datetime | None = None) -> list[ClosedGap]:
    """Inside an import's transaction: close the open gaps its export plays cover; return them.

    Costs one small read when the import holds export plays, nothing otherwise (a poll's import
    holds Web API plays only)."""
    if plays.num_rows == 0:
        return []
    exported = plays.filter(pc.is_in(plays["source"], value_set=pa.array(EXPORT_SOURCES)))
    if exported.num_rows == 0:
        return []
    users = set(pc.unique(exported["user_id"]).to_pylist())
    open_gaps = [g for g in list_gaps(con) if g.open and g.user_id in users]
    closed = []
    at = now or datetime.now(timezone.utc)
    for user in sorted({g.user_id for g in open_gaps}):
        for gap, filled in closed_by_import([g for g in open_gaps if g.user_id == user], export_plays(exported, user)):
            _close(con, gap, by=by, filled=filled, at=at)
            gap.closed_at, gap.closed_by, gap.filled = iso(at), by, filled
            closed.append(ClosedGap(gap, filled))
    return closed
