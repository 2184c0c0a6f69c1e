"""An export import that knows about the collector's gaps: which ones did it close?

Used by ``kasoku ingest listening`` and the watched folder after a successful ingest. The
user's open gaps are checked against the export plays of the import (read again through
``formats.read_sources`` only when there are open gaps, so the common case costs nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.collector.gaps import ExportPlay, FileGapStore, Gap, GapStore, closed_by_import
from kasoku.domains.listening.formats import read_sources
from kasoku.domains.listening.schema import track_key


@dataclass
class ClosedGap:
    gap: Gap
    filled: int  # export plays inside the gap

    def line(self) -> str:
        return f"gap {self.gap.start} .. {self.gap.end} closed: {self.filled} play(s) from the export inside it"


def export_plays(paths: Sequence[Path], user_id: str) -> list[ExportPlay]:
    """Plays of the export formats (extended, account) in the files: (start, end, track)."""
    parsed = read_sources(list(paths), user_id=user_id)
    plays = parsed.plays.filter(pc.is_in(parsed.plays["source"], value_set=pa.array(["extended", "account"])))
    out = []
    for end, ms, artist, track in zip(plays["played_at"].to_pylist(), plays["ms_played"].to_pylist(),
                                      plays["artist_name"].to_pylist(), plays["track_name"].to_pylist(), strict=True):
        end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
        out.append(ExportPlay(start=end - timedelta(milliseconds=ms), end=end, track=track_key(artist, track)))
    return out


def close_gaps(state: Path, paths: Sequence[Path], user_id: str, *, by: str, store: GapStore | None = None,
               now: datetime | None = None) -> list[ClosedGap]:
    """Close the user's open gaps this (already committed) import covers; return them."""
    store = store or FileGapStore(state)
    open_gaps = [g for g in store.list(user_id) if g.open]
    if not open_gaps:
        return []
    closed = []
    for gap, filled in closed_by_import(open_gaps, export_plays(paths, user_id)):
        store.close(user_id, gap.id, by=by, filled=filled, at=now or datetime.now(timezone.utc))
        closed.append(ClosedGap(gap, filled))
    return closed
