"""The Parquet lake: one code path for a local directory and S3-compatible storage.

Layout (Hive-partitioned, so any tool can read it with a glob)::

    <root>/<table>/year=YYYY/month=MM/part-<uuid>.parquet
    <root>/_kasoku/manifest.json        the committed state (see manifest.py)

A commit writes every new file first, then replaces the manifest in one step (local:
temp file + fsync + ``os.replace``; S3: one PUT, which S3 makes visible atomically),
then retires the files the new manifest no longer names. Readers go by the manifest
only, so a failure or a crash mid-commit leaves the lake exactly as it was; stray files
are invisible and :meth:`Lake.vacuum` removes them.

Writers: one at a time. Locally a ``fcntl`` lock around the commit enforces it; on S3
there is no lock — the deployment must run a single ingest process (kasoku's ingest runs
twice a day from one scheduler), otherwise the later manifest PUT wins.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from kasoku.errors import ConfigError, InvalidParameter
from kasoku.lake.manifest import Manifest, Retired, check_month, check_table

log = logging.getLogger(__name__)

META_DIR = "_kasoku"
MANIFEST_NAME = "manifest.json"
# DuckDB's own row-group size: its parallel scan splits work by row group.
ROW_GROUP_ROWS = 122_880


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible store (AWS S3, Cloudflare R2, MinIO, moto)."""

    endpoint: str | None = None  # "localhost:9000" or "https://<acct>.r2.cloudflarestorage.com"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    url_style: Literal["path", "vhost"] = "path"
    use_ssl: bool = True

    def host_and_ssl(self) -> tuple[str | None, bool]:
        """Endpoint without scheme plus whether to use TLS (a scheme in ``endpoint`` wins)."""
        if self.endpoint is None:
            return None, self.use_ssl
        if "://" in self.endpoint:
            u = urlparse(self.endpoint)
            return u.netloc, u.scheme == "https"
        return self.endpoint.rstrip("/"), self.use_ssl


@dataclass(frozen=True)
class Commit:
    """What a commit did. ``tables_changed`` maps table -> months written or dropped."""

    version: int
    tables_changed: dict[str, list[str]]
    files_written: int
    bytes_written: int
    files_removed: int


def write_parquet_file(fs: pafs.FileSystem, path: str, table: pa.Table) -> int:
    """Write one partition file and return its size in bytes.

    A module-level function on purpose: tests replace it to inject a failure after the
    k-th file and check that the lake is unchanged.
    """
    with fs.open_output_stream(path) as out:
        pq.write_table(table, out, compression="zstd", row_group_size=ROW_GROUP_ROWS,
                       write_statistics=True)
        return int(out.tell())


class Lake:
    """A Hive-partitioned Parquet lake with atomic multi-table commits.

    ``grace_seconds``: files replaced by a commit stay readable that long, so readers on
    the previous manifest (a server that has not refreshed yet) never hit a missing file.
    ``max_age``: if set, ``files()``/``months()`` re-read the manifest when the cached
    copy is older than this many seconds; otherwise only :meth:`refresh` and this
    object's own commits update it (one GET per refresh, never one per query).
    """

    def __init__(self, url: str, s3: S3Options | None = None, *, grace_seconds: float = 600.0,
                 max_age: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.s3 = s3
        self.grace_seconds = grace_seconds
        self.max_age = max_age
        self._clock = clock
        parsed = urlparse(url)
        self.is_s3 = parsed.scheme == "s3"
        if self.is_s3:
            if not parsed.netloc:
                raise ConfigError(f"S3 lake URL needs a bucket: {url!r}")
            self._base = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            self._fs: pafs.FileSystem = _s3_filesystem(s3 or S3Options())
        elif parsed.scheme in ("", "file"):
            local = parsed.path if parsed.scheme == "file" else url
            self._base = os.path.abspath(os.path.expanduser(local))
            os.makedirs(os.path.join(self._base, META_DIR), exist_ok=True)
            self._fs = pafs.LocalFileSystem()
        else:
            raise ConfigError(f"lake URL must be a directory, file:// or s3:// URL, got {url!r}")
        self._commit_lock = threading.Lock()
        self._manifest = Manifest()
        self._loaded_at = float("-inf")
        self.refresh()

    # ----------------------------------------------------------------- paths
    def _full(self, rel: str) -> str:
        return f"{self._base}/{rel}"

    def _uri(self, rel: str) -> str:
        """A path DuckDB reads directly: absolute local path or ``s3://bucket/key``."""
        return f"s3://{self._base}/{rel}" if self.is_s3 else os.path.join(self._base, rel)

    @property
    def _manifest_path(self) -> str:
        return self._full(f"{META_DIR}/{MANIFEST_NAME}")

    # --------------------------------------------------------------- reading
    def refresh(self) -> bool:
        """Re-read the manifest from storage; return whether the version changed."""
        before = self._manifest.version
        self._manifest = self._load()
        self._loaded_at = time.monotonic()
        return self._manifest.version != before

    def _load(self) -> Manifest:
        """Read the stored manifest, retrying a torn read.

        pyarrow reads an S3 object with a HEAD for its size and then ranged GETs, so a read
        that races a manifest PUT can get the first N bytes of a longer new version (seen
        with moto). A truncated JSON object never parses, so a parse error is retried.
        """
        attempts = 5
        for attempt in range(attempts):
            try:
                with self._fs.open_input_stream(self._manifest_path) as f:
                    raw = f.read()
            except FileNotFoundError:
                return Manifest()
            try:
                return Manifest.from_json(raw)
            except json.JSONDecodeError:
                if attempt == attempts - 1:
                    raise
                log.debug("lake manifest read was torn (attempt %d), retrying", attempt + 1)
                time.sleep(0.02 * (attempt + 1))
        raise RuntimeError("unreachable: the last attempt returns or raises")

    def manifest(self) -> Manifest:
        """The cached manifest (an immutable snapshot)."""
        if self.max_age is not None and time.monotonic() - self._loaded_at > self.max_age:
            self.refresh()
        return self._manifest

    def months(self, table: str) -> list[str]:
        """``YYYY-MM`` partitions of ``table`` present in the committed state, sorted."""
        return self.manifest().months(table)

    def files(self, table: str, months: Iterable[str] | None = None) -> list[str]:
        """Current data files of ``table`` as paths DuckDB can read; months without data are absent."""
        wanted = None if months is None else [m for m in months]
        return [self._uri(rel) for rel in self.manifest().files(table, wanted)]

    def read(self, table: str, months: Iterable[str], columns: list[str] | None = None) -> pa.Table | None:
        """Read the committed content of some partitions (as written: no year/month columns added)."""
        rels = self.manifest().files(table, list(months))
        if not rels:
            return None
        parts = [pq.read_table(self._full(rel), filesystem=self._fs, columns=columns) for rel in rels]
        return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]

    # --------------------------------------------------------------- writing
    def commit(self, changes: Mapping[str, Mapping[str, pa.Table | None]], *,
               progress: Callable[[int], None] | None = None) -> Commit:
        """Replace whole partitions of one or more tables atomically.

        ``changes``: table -> ``YYYY-MM`` -> the partition's new full content; ``None`` or an
        empty table drops the partition. ``progress`` is called with the number of files
        written so far. Bad input raises :class:`InvalidParameter` before anything is written.
        """
        plan = self._validate(changes)
        with self._commit_lock, self._writer_lock():
            base = self._load()  # commit on top of the stored state, not a possibly stale cache
            written: list[str] = []
            nbytes = 0
            try:
                new_parts: dict[tuple[str, str], str | None] = {}
                for table, month, data in plan:
                    if data is None:
                        new_parts[(table, month)] = None
                        continue
                    year, mm = check_month(month)
                    rel = f"{table}/year={year}/month={mm}/part-{uuid.uuid4().hex}.parquet"
                    written.append(rel)
                    if not self.is_s3:  # S3 has no directories; creating markers there would only add noise
                        os.makedirs(os.path.dirname(self._full(rel)), exist_ok=True)
                    nbytes += write_parquet_file(self._fs, self._full(rel), data)
                    new_parts[(table, month)] = rel
                    if progress is not None:
                        progress(len(written))
                manifest, to_delete = self._next_manifest(base, new_parts)
                self._store_manifest(manifest)
            except BaseException:
                # Nothing references these files yet: remove them now (vacuum() catches hard crashes).
                self._delete(written)
                raise
            self._manifest = manifest
            self._loaded_at = time.monotonic()
            removed = self._delete(to_delete)
        changed: dict[str, list[str]] = {}
        for table, month, _ in plan:
            changed.setdefault(table, []).append(month)
        log.info("lake commit v%d: %s (%d files, %d bytes written, %d removed)",
                 manifest.version, changed, len(written), nbytes, removed)
        return Commit(manifest.version, changed, len(written), nbytes, removed)

    def _validate(self, changes: Mapping[str, Mapping[str, pa.Table | None]]) -> list[tuple[str, str, pa.Table | None]]:
        plan: list[tuple[str, str, pa.Table | None]] = []
        for table, parts in changes.items():
            check_table(table)
            for month, data in parts.items():
                check_month(month)
                if data is not None and not isinstance(data, pa.Table):
                    raise InvalidParameter(f"partition {table}/{month} must be a pyarrow Table or None, "
                                           f"got {type(data).__name__}")
                plan.append((table, month, None if data is None or data.num_rows == 0 else data))
        return sorted(plan, key=lambda p: (p[0], p[1]))

    def _next_manifest(self, base: Manifest, new_parts: Mapping[tuple[str, str], str | None]) -> tuple[Manifest, list[str]]:
        now = self._clock()
        tables = {t: {m: list(fs) for m, fs in parts.items()} for t, parts in base.tables.items()}
        for (table, month), rel in new_parts.items():
            parts = tables.setdefault(table, {})
            if rel is None:
                parts.pop(month, None)
            else:
                parts[month] = [rel]
        tables = {t: parts for t, parts in tables.items() if parts}
        still = {f for parts in tables.values() for fs in parts.values() for f in fs}
        retired = [r for r in base.retired if r.path not in still]
        retired += [Retired(f, now) for f in sorted(base.referenced() - still)]
        expired = [r.path for r in retired if now - r.since >= self.grace_seconds]
        keep = tuple(r for r in retired if now - r.since < self.grace_seconds)
        stamp = datetime.fromtimestamp(now, timezone.utc).isoformat()
        return Manifest(base.version + 1, stamp, tables, keep), expired

    def _store_manifest(self, manifest: Manifest) -> None:
        raw = manifest.to_json()
        if self.is_s3:
            # One PUT of a small object: S3 makes it visible all at once.
            with self._fs.open_output_stream(self._manifest_path) as out:
                out.write(raw)
            return
        final = self._manifest_path
        tmp = f"{final}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        dfd = os.open(os.path.dirname(final), os.O_RDONLY)
        try:
            os.fsync(dfd)  # make the rename itself durable
        finally:
            os.close(dfd)

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self.is_s3:
            yield  # single writer assumed, see module docstring
            return
        with open(self._full(f"{META_DIR}/commit.lock"), "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _delete(self, rels: Iterable[str]) -> int:
        """Best-effort delete; a failure is logged (vacuum() retries), never raised after a commit."""
        n = 0
        for rel in rels:
            try:
                self._fs.delete_file(self._full(rel))
                n += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("lake: could not delete %s: %s", rel, exc)
        return n

    # ------------------------------------------------------------- cleaning
    def vacuum(self) -> int:
        """Delete data files and temp manifests no commit references; return how many.

        Files retired within the grace period are kept (readers may still use them).
        """
        with self._commit_lock, self._writer_lock():
            current = self._load()
            keep = current.referenced() | {r.path for r in current.retired
                                           if self._clock() - r.since < self.grace_seconds}
            try:
                infos = self._fs.get_file_info(pafs.FileSelector(self._base, recursive=True, allow_not_found=True))
            except FileNotFoundError:
                return 0
            strays: list[str] = []
            for info in infos:
                if info.type != pafs.FileType.File:
                    continue
                rel = info.path[len(self._base) + 1:]
                top = rel.split("/", 1)[0]
                is_data = top != META_DIR and rel.endswith(".parquet") and "/part-" in rel
                is_tmp = rel.startswith(f"{META_DIR}/{MANIFEST_NAME}.tmp-")
                if (is_data and rel not in keep) or is_tmp:
                    strays.append(rel)
            removed = self._delete(strays)
        log.info("lake vacuum: removed %d unreferenced files", removed)
        return removed


def _s3_filesystem(opts: S3Options) -> pafs.S3FileSystem:
    host, ssl = opts.host_and_ssl()
    return pafs.S3FileSystem(
        access_key=opts.access_key_id, secret_key=opts.secret_access_key, session_token=opts.session_token,
        region=opts.region, endpoint_override=host, scheme="https" if ssl else "http",
        force_virtual_addressing=opts.url_style == "vhost", allow_bucket_creation=False,
        allow_bucket_deletion=False,
    )
