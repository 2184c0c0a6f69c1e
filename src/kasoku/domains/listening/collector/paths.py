"""Where the collector keeps its files in the state directory, and the locks on them.

    <state>/spotify/<user>/tokens.json   refresh + access token (secret, 0600)
    <state>/spotify/<user>/cursor.json   newest play seen, recent play keys, last poll, counters
    <state>/spotify/<user>/poll.lock     one poll of this user at a time, across processes
    <state>/spotify/artists.json         artist metadata fetched so far (cached for good) + queue
    <state>/scheduler.lock               the scheduler's leader lease (fcntl)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kasoku.state import ensure_state_dir

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def spotify_dir(state: Path) -> Path:
    return state / "spotify"


def user_dir(state: Path, user_id: str) -> Path:
    """A directory per user; ids that are not plain file names are hashed (blake2b)."""
    name = user_id if _SAFE.match(user_id) and user_id not in (".", "..") else \
        "u-" + hashlib.blake2b(user_id.encode(), digest_size=12).hexdigest()
    return spotify_dir(state) / name


def known_users(state: Path) -> list[str]:
    """Users with a login in this state directory (their id is stored in the cursor/tokens file)."""
    root = spotify_dir(state)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "tokens.json").is_file())


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``fcntl`` lock on ``path``; the kernel releases it if the process dies (kill -9).

    Yields True when held; with ``blocking=False`` yields False at once if another holds it.
    """
    ensure_state_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
