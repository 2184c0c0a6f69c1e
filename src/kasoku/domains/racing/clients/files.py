"""Serve a JV-Data file archive with JV-Link's semantics, for Linux and benchmarks.

Same validation and return codes as the COM client (through the catalogue), same
shapes: stored data filtered by data-creation date, realtime data by race day or
race key, no data → ``[]``. The archive's resolution is a day (file names and the
header's creation date carry no time), so ``fromtime``'s time part is ignored:
a fetch from ``20240105120000`` includes everything created on 2024-01-05.

Option 2 ("this week") and 3/4 ("setup") are validated like JV-Link but select
the same records as option 1: the archive has no notion of "this week" or of
setup-only files.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kasoku.domains.racing import archive as _archive
from kasoku.domains.racing import catalogue
from kasoku.domains.racing.clients.base import DEFAULT_MAX_FETCH_BYTES, ArtificialDelay, FetchTooLarge
from kasoku.errors import ConfigError, UpstreamUnavailable

__all__ = ["FileClient"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _DayIndex:
    path: Path
    spans: tuple[_archive.Span, ...]

    @property
    def end(self) -> int:
        return self.spans[-1].offset + self.spans[-1].length if self.spans else 0


@dataclass(frozen=True)
class _SpecIndex:
    """One dataspec's day files with record offsets, built once per archive generation."""

    days: dict[str, _DayIndex]
    race_keys: dict[str, dict[str, tuple[_archive.Span, ...]]]  # day -> race key -> spans


class FileClient:
    """An :class:`UpstreamClient` over an archive written by :func:`archive.import_files`."""

    name = "files"

    def __init__(self, archive_dir: Path | str, *, delay: tuple[float, float] | None = None,
                 rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES) -> None:
        self._dir = Path(archive_dir)
        self._max_fetch_bytes = max_fetch_bytes
        if not self._dir.is_dir():
            raise ConfigError(f"JV-Data archive {self._dir} does not exist",
                              details={"archive": str(self._dir)})
        self._delay = (ArtificialDelay(delay[0], delay[1], rng or random.Random(), sleep)
                       if delay is not None else None)
        self._lock = threading.Lock()
        self._signature = _archive.manifest_signature(self._dir)
        self._indexes: dict[str, _SpecIndex] = {}
        self._calls = 0
        self._reindexes = 0
        self._closed = False

    # --- UpstreamClient ----------------------------------------------------------

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        self._begin_call()
        spec = catalogue.get_dataspec(dataspec)
        start, end = catalogue.validate_fromtime(spec, fromtime)
        catalogue.validate_option(spec, option)
        lo, hi = start[:8], (end[:8] if end is not None else None)
        index = self._index(spec)
        days = [day for day in sorted(index.days) if day >= lo and (hi is None or day <= hi)]
        size = sum(index.days[day].end for day in days)
        if size > self._max_fetch_bytes:  # known from the index before reading a byte
            raise FetchTooLarge(dataspec, size, self._max_fetch_bytes)
        out: list[bytes] = []
        for day in days:
            entry = index.days[day]
            # read only the indexed prefix: a concurrent import may have appended since
            with open(entry.path, "rb") as f:
                data = f.read(entry.end)
            out.extend(data[s.offset:s.offset + s.length] for s in entry.spans)
        return out

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        self._begin_call()
        spec = catalogue.get_dataspec(dataspec)
        kind = catalogue.validate_realtime_key(spec, key)
        index = self._index(spec)
        entry = index.days.get(key[:8])
        if entry is None:
            return []
        spans = entry.spans if kind == "date" else index.race_keys[key[:8]].get(key, ())
        out: list[bytes] = []
        with open(entry.path, "rb") as f:
            for s in spans:
                f.seek(s.offset)
                out.append(f.read(s.length))
        return out

    def status(self) -> dict[str, Any]:
        manifest = _archive.read_manifest(self._dir)
        with self._lock:
            return {"name": self.name, "archive": str(self._dir), "closed": self._closed,
                    "generation": manifest.get("generation", 0), "calls": self._calls,
                    "reindexes": self._reindexes, "indexed": sorted(self._indexes),
                    "dataspecs": manifest.get("dataspecs", {})}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._indexes = {}

    # --- internals -----------------------------------------------------------------

    def _begin_call(self) -> None:
        with self._lock:
            if self._closed:
                raise UpstreamUnavailable("file client is closed", details={"client": self.name})
            self._calls += 1
        if self._delay is not None:
            self._delay.apply()

    def _index(self, spec: catalogue.DataSpec) -> _SpecIndex:
        """The dataspec's index, rebuilt when the manifest changed since it was built.

        Built under the lock so concurrent first fetches scan once; readers then use
        the immutable snapshot without locking.
        """
        with self._lock:
            signature = _archive.manifest_signature(self._dir)
            if signature != self._signature:
                log.info("archive %s changed; dropping %d dataspec indexes", self._dir, len(self._indexes))
                self._signature = signature
                self._indexes = {}
                self._reindexes += 1
            index = self._indexes.get(spec.name)
            if index is None:
                index = self._build(spec)
                self._indexes[spec.name] = index
            return index

    def _build(self, spec: catalogue.DataSpec) -> _SpecIndex:
        days: dict[str, _DayIndex] = {}
        race_keys: dict[str, dict[str, tuple[_archive.Span, ...]]] = {}
        for day, path in _archive.day_files(self._dir, spec.kind, spec.name):
            spans = _archive.index_file(path)
            days[day] = _DayIndex(path, spans)
            if spec.kind == "realtime":
                by_key: dict[str, list[_archive.Span]] = {}
                for s in spans:
                    by_key.setdefault(s.race_key, []).append(s)
                race_keys[day] = {k: tuple(v) for k, v in by_key.items()}
        log.debug("indexed %s: %d day files", spec.name, len(days))
        return _SpecIndex(days, race_keys)
