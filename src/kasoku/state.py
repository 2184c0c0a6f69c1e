"""The state directory: small secrets and bookkeeping that are not data (tokens, API keys,
collector cursors). Files are written atomically (temp file + fsync + rename) with mode 0600,
so a crash never leaves half a secret and no other local user can read one.

Location: ``--state DIR``, env ``KASOKU_STATE``, else the user's state directory
(``$XDG_STATE_HOME/kasoku``, default ``~/.local/state/kasoku``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kasoku"


def ensure_state_dir(path: Path) -> Path:
    """Create the directory (mode 0700) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, readable by the owner only."""
    ensure_state_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
