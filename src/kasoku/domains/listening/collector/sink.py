"""Where collected data goes: the listening ingest, through its file formats only.

The collector never writes the lake itself. A poll's new items become a saved Web API
recently-played document (``{"items": [...]}``) and artist objects a ``{"artists": [...]}``
document — formats ``formats.py`` already reads — and both go through
``kasoku.domains.listening.ingest.ingest`` like an export would: validation, identity, the
cross-source matching, roll-ups, the closing of gaps and the lake's atomic commit stay in one
place. A poll's gap rides along in the same transaction (``also``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from kasoku.config import Settings
from kasoku.domains.listening.ingest import Also, IngestSummary, ingest
from kasoku.lake.ducklake import Lake


def ingest_paths(lake: Lake, paths: Sequence[Path], *, user_id: str, settings: Settings,
                 also: Also | None = None) -> IngestSummary:
    """``ingest(lake, paths, user_id=...)`` with the settings' roll-up hook; ``also`` runs in its transaction."""
    from kasoku.domains.listening.domain import rollup_hook

    return ingest(lake, list(paths), user_id=user_id, rollups=rollup_hook(settings), also=also)


def ingest_document(lake: Lake, document: dict[str, Any], *, name: str, user_id: str, settings: Settings,
                    also: Also | None = None) -> IngestSummary:
    """Write ``document`` as a JSON file in a private temp directory and ingest it."""
    with tempfile.TemporaryDirectory(prefix="kasoku-collect-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(orjson.dumps(document))
        return ingest_paths(lake, [path], user_id=user_id, settings=settings, also=also)
