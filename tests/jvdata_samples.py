"""Where the real JV-Data sample records are: ``<repo>/../shared/reference/jvdata-samples``.

CI always has ``../shared`` beside the clone; ``KASOKU_JVDATA_SAMPLES`` overrides (e.g. a
worktree elsewhere). A missing folder fails the test that needs it, loudly, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def samples_dir() -> Path:
    candidates = [Path(os.environ["KASOKU_JVDATA_SAMPLES"])] if os.environ.get("KASOKU_JVDATA_SAMPLES") else []
    candidates.append(REPO.parent / "shared" / "reference" / "jvdata-samples")
    for path in candidates:
        if path.is_dir():
            return path
    raise AssertionError(f"JV-Data samples not found; looked in {', '.join(map(str, candidates))}")
