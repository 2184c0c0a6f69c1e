"""What JV-Link delivers over COM, kept in the lake as it arrives.

On Windows the replay's upstream is JV-Link itself (``racing.client = "com"``); every fetch's
records are also imported into the server's lake — the tables (JV-Data's update semantics) and
the raw records (``jvdata_raw``) — so the lake's tables, ``/api/v1/tables`` and any later
replay from the lake hold what was fetched, on any OS. Imports run one at a time on a thread of
their own, after the answer is made: a request never waits for the lake. A record that fails
the import's validation (``jvdata_files.check_record``) is skipped and counted, never the whole
fetch; a failed import is logged and counted (the answer was already served from JV-Link).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kasoku.domains.racing import catalogue
from kasoku.domains.racing.jvdata_files import Target, check_record
from kasoku.domains.racing.lake_import import import_records
from kasoku.lake.ducklake import Lake

__all__ = ["LakeKeeper"]

log = logging.getLogger(__name__)


class LakeKeeper:
    """Imports fetched records into ``lake`` in the background, in the order they were fetched."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kasoku-lake-keep")
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()
        self._stats = {"imports": 0, "records": 0, "raw_added": 0, "skipped": 0, "failed": 0}

    def keep(self, dataspec: str, raws: Sequence[bytes]) -> Future[None] | None:
        """Queue one fetch's records for the lake; returns the import's future (None: nothing to keep)."""
        if not raws:
            return None
        future = self._pool.submit(self._import, dataspec, list(raws))
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _import(self, dataspec: str, raws: list[bytes]) -> None:
        spec = catalogue.get_dataspec(dataspec)
        good: list[bytes] = []
        targets: list[Target] = []
        skipped = 0
        for i, raw in enumerate(raws, 1):
            try:
                targets.append(check_record(raw, spec))
            except ValueError as exc:
                skipped += 1
                log.warning("not keeping %s record %d in the lake: %s", dataspec, i, exc)
                continue
            good.append(raw)
        try:
            summary = import_records(self.lake, good, targets=targets,
                                     message=f"racing com fetch {dataspec} records={len(good)}") if good else None
        except Exception:
            log.exception("keeping a %s fetch (%d records) in the lake failed", dataspec, len(good))
            with self._lock:
                self._stats["failed"] += 1
                self._stats["skipped"] += skipped
            return
        with self._lock:
            self._stats["imports"] += 1
            self._stats["records"] += len(good)
            self._stats["skipped"] += skipped
            self._stats["raw_added"] += summary.raw_added if summary is not None else 0

    def wait(self, timeout: float | None = None) -> None:
        """Until every queued import is done (tests; shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self._stats, "pending": len(self._pending)}

    def close(self) -> None:
        """Finish the queued imports (fetched JV-Link data is not thrown away), then stop."""
        self._pool.shutdown(wait=True)
