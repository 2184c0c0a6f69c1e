"""Where collected data goes: the listening ingest, through its file formats only.

The collector never writes the lake itself. A poll's new items become a saved Web API
recently-played document (``{"items": [...]}``) and artist objects a ``{"artists": [...]}``
document — formats ``formats.py`` already reads — and both go through
``kasoku.domains.listening.ingest.ingest`` like an export would: validation, identity, the
cross-source matching, roll-ups and the lake's atomic commit stay in one place, whatever the
lake becomes.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from kasoku.config import Settings
from kasoku.domains.listening.ingest import IngestSummary, ingest


def ingest_paths(lake: Any, paths: Sequence[Path], *, user_id: str, settings: Settings) -> IngestSummary:
    """``ingest(lake, paths, user_id=...)`` with the roll-up hook when the ingest takes one."""
    refresh = getattr(lake, "refresh", None)
    if refresh is not None:
        refresh()  # merge against what is committed now, not a manifest cached before another writer's commit
    kwargs: dict[str, Any] = {}
    if "rollups" in inspect.signature(ingest).parameters:
        from kasoku.domains.listening.domain import rollup_hook

        kwargs["rollups"] = rollup_hook(settings)
    return ingest(lake, list(paths), user_id=user_id, **kwargs)


def ingest_document(lake: Any, document: dict[str, Any], *, name: str, user_id: str, settings: Settings) -> IngestSummary:
    """Write ``document`` as a JSON file in a private temp directory and ingest it."""
    with tempfile.TemporaryDirectory(prefix="kasoku-collect-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(orjson.dumps(document))
        return ingest_paths(lake, [path], user_id=user_id, settings=settings)
