"""Where the real JV-Data sample records are: ``<repo>/../shared/reference/jvdata-samples``.

Only this suite (``tests/samples``, outside the default test run) reads them; ``.ci/run``
runs it with ``../shared`` beside the clone. ``KASOKU_JVDATA_SAMPLES`` overrides the folder
(e.g. a worktree elsewhere); the layout documents are read from its parent. A missing
folder fails these tests loudly, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def samples_dir() -> Path:
    env = os.environ.get("KASOKU_JVDATA_SAMPLES")
    return Path(env) if env else REPO.parent / "shared" / "reference" / "jvdata-samples"


def missing_message(what: Path) -> str:
    return (f"JV-Data reference not found at {what} (looked in <repo>/../shared/reference/jvdata-samples "
            f"with repo={REPO}, or $KASOKU_JVDATA_SAMPLES); CI keeps shared/ beside the clone")


def sample_files() -> list[Path]:
    found = sorted(samples_dir().glob("*.jvd"))
    if not found:
        raise AssertionError(missing_message(samples_dir()))
    return found


def reference_doc(name: str) -> Path:
    """A layout document beside the samples (``jvdata-layouts.md``, ``jvdata-layouts-more.md``)."""
    path = samples_dir().parent / name
    if not path.is_file():
        raise AssertionError(missing_message(path))
    return path
