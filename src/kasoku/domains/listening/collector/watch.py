"""The watched folder (``--watch DIR``, setting ``import_dir``): drop an export in, it imports itself.

A ``.zip`` or ``.json`` dropped into the folder is imported once, then moved to ``done/`` with
``<name>.summary.json`` beside it (the ingest summary and the gaps it closed), or to
``failed/`` with ``<name>.error.txt`` (the one-line error; the lake is unchanged).

A copy still being written is left alone: names of partial downloads (``.part``,
``.crdownload``, ``.download``, ``.tmp``, dot-files) are ignored, and a file is taken only
once its size and mtime were the same on two scans at least ``import_settle`` seconds apart
(and its mtime is that old). It is then claimed by a rename into ``.processing/`` — atomic, so
two watchers never import the same file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from kasoku.config import Settings
from kasoku.domains.listening.collector.poll import wrote
from kasoku.domains.listening.collector.sink import ingest_paths
from kasoku.domains.listening.ingest import IngestSummary
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".tmp", ".partial", "~")
ACCEPTED = (".zip", ".json")


@dataclass
class Imported:
    name: str
    ok: bool
    moved_to: str
    summary: dict[str, Any] | None = None
    error: str | None = None


def is_candidate(path: Path) -> bool:
    name = path.name.lower()
    return (path.is_file() and not name.startswith(".") and name.endswith(ACCEPTED)
            and not name.endswith(PARTIAL_SUFFIXES))


def summary_dict(summary: IngestSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["skipped"] = dict(summary.skipped)
    data["by_format"] = dict(summary.by_format)
    data["gaps_closed"] = [c.as_dict() for c in summary.gaps_closed]
    return data


class ImportFolder:
    def __init__(self, settings: Settings, lake: Any, root: Path, *, user_id: str,
                 clock: Callable[[], float] = time.time,
                 on_commit: Callable[[IngestSummary], None] | None = None) -> None:
        self.settings = settings
        self.lake = lake
        self.root = root
        self.user_id = user_id
        self.clock = clock
        self.on_commit = on_commit
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}  # name -> ((size, mtime_ns), first seen so)
        for sub in ("done", "failed", ".processing"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def ready(self, *, single_look: bool = False) -> list[Path]:
        """Files whose size and mtime have settled (``single_look``: an mtime ``import_settle`` old is
        enough — for one-shot runs, which cannot watch a file twice)."""
        now = self.clock()
        settle = self.settings.import_settle
        ready, present = [], set()
        for path in sorted(self.root.iterdir()):
            if not is_candidate(path):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            present.add(path.name)
            shape = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(path.name)
            if single_look and now - st.st_mtime >= max(settle, 1.0) and st.st_size > 0:
                ready.append(path)
                continue
            if seen is None or seen[0] != shape:
                self._seen[path.name] = (shape, now)
                continue
            if now - seen[1] >= settle and now - st.st_mtime >= settle and st.st_size > 0:
                ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def scan(self, *, single_look: bool = False) -> list[Imported]:
        """Import every settled file (call it periodically; the scheduler's ``watch`` job does)."""
        return [self._import(path) for path in self.ready(single_look=single_look)]

    def _import(self, path: Path) -> Imported:
        claimed = self.root / ".processing" / path.name
        try:
            os.rename(path, claimed)
        except FileNotFoundError:  # another watcher took it
            return Imported(path.name, False, "", error="claimed by another watcher")
        self._seen.pop(path.name, None)
        try:
            summary = ingest_paths(self.lake, [claimed], user_id=self.user_id, settings=self.settings)
        except KasokuError as exc:
            return self._finish(claimed, "failed", error=exc.message)
        except Exception as exc:  # an unexpected failure still must not leave the file in limbo
            log.exception("watched folder: import of %s failed", path.name)
            return self._finish(claimed, "failed", error=f"{type(exc).__name__}: {exc}")
        report = summary_dict(summary)
        if wrote(summary) and self.on_commit is not None:
            self.on_commit(summary)
        return self._finish(claimed, "done", summary=report)

    def _finish(self, claimed: Path, where: str, *, summary: dict[str, Any] | None = None,
                error: str | None = None) -> Imported:
        target = self.root / where / claimed.name
        if target.exists():
            target = target.with_name(f"{int(self.clock())}-{claimed.name}")
        os.replace(claimed, target)
        if summary is not None:
            target.with_name(target.name + ".summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        if error is not None:
            target.with_name(target.name + ".error.txt").write_text(error + "\n")
            log.warning("watched folder: %s failed: %s", claimed.name, error)
        else:
            log.info("watched folder: imported %s", claimed.name)
        return Imported(claimed.name, error is None, str(target), summary, error)
