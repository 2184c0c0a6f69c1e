"""Where the shared JV-Data reference lives: ``<repo>/../shared/reference`` (CI), or
``$KASOKU_JVDATA_SAMPLES`` (a worktree elsewhere). Missing is a failure, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def samples_dir() -> Path:
    env = os.environ.get("KASOKU_JVDATA_SAMPLES")
    return Path(env) if env else REPO.parent / "shared" / "reference" / "jvdata-samples"


def missing_message(what: Path) -> str:
    return (f"JV-Data reference not found at {what} (looked in <repo>/../shared/reference/jvdata-samples "
            f"with repo={REPO}, or $KASOKU_JVDATA_SAMPLES); CI keeps shared/ beside the clone")
