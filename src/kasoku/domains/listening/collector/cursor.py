"""The collector's bookkeeping per user: cursor, recently stored plays, last poll, counters.

The cursor is Spotify's ``played_at`` (ms) of the newest play the collector stored; the next
poll asks for ``after = cursor - overlap``. ``recent`` holds the keys (``played_at`` ms + track
id) of plays stored inside that overlap, so a poll that re-reads only known plays writes
nothing to the lake. The file is replaced atomically AFTER the lake commit: a crash in between
re-reads the same plays next time, and play identity makes the second write a no-op.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kasoku.domains.listening.collector.paths import user_dir
from kasoku.state import write_private

RECENT_MAX = 500


@dataclass
class Cursor:
    user_id: str
    cursor_ms: int | None = None
    cursor_track: str = ""  # track_key of the play at the cursor
    recent: list[str] = field(default_factory=list)  # "<played_at ms>:<track id>" of stored plays near the cursor
    last_poll_at: float | None = None
    last_success_at: float | None = None
    last_commit_at: float | None = None
    last_error: str | None = None
    last_rate_limit: dict[str, Any] | None = None
    newest_play_end: float | None = None  # epoch s: the newest stored play's end (start + length)
    polls: int = 0
    empty_polls: int = 0
    failed_polls: int = 0
    plays_written: int = 0
    rate_limited: int = 0
    http_calls: int = 0


class CursorStore:
    def __init__(self, state: Path, user_id: str) -> None:
        self.user_id = user_id
        self.path = user_dir(state, user_id) / "cursor.json"

    def load(self) -> Cursor:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Cursor(self.user_id)
        return Cursor(**{k: v for k, v in data.items() if k in Cursor.__dataclass_fields__})

    def save(self, cursor: Cursor) -> None:
        write_private(self.path, orjson.dumps(asdict(cursor), option=orjson.OPT_INDENT_2))
