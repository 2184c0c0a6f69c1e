"""An on-disk archive of raw JV-Data records, so Linux can serve what JV-Link would.

Layout (all files are raw JV-Data: cp932, fixed width, one record per CRLF line,
bytes exactly as JV-Link delivers them, never re-encoded or stripped)::

    <archive>/manifest.json                         written last by every import
    <archive>/stored/<DATASPEC>/<YYYYMMDD>.jvd      grouped by data-creation date (header bytes 4-11)
    <archive>/realtime/<DATASPEC>/<YYYYMMDD>.jvd    grouped by race day (header bytes 12-19)

Why this shape: JVOpen filters by data-creation time, so stored files are cut by
creation date and a ``fromtime`` becomes a choice of files; JVRTOpen is asked by
race day or race key, so realtime files are cut by race day and a race key is a
scan of one small file. A day file only ever grows (existing bytes first, new
records appended), so offsets indexed by a reader stay valid across imports; the
manifest's change tells readers to re-index.

``manifest.json``::

    {"format": 1, "generation": 7,
     "dataspecs": {"RACE": {"kind": "stored", "files": 3, "records": 812}, ...}}

Imports validate every record of every file before writing anything, drop records
already archived (byte-identical), and replace each file atomically (temp file in
the same directory, fsync, ``os.replace``). One importer at a time (an advisory
lock on ``<archive>/.lock`` where the OS has ``fcntl``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kasoku.domains.racing import catalogue, records
from kasoku.errors import InputError, KasokuError

__all__ = ["ImportSummary", "Span", "MANIFEST", "day_files", "import_files", "index_file",
           "manifest_signature", "read_manifest", "split_records", "check_record"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
CRLF = b"\r\n"
_DAY_FILE = re.compile(r"(\d{8})\.jvd")

Progress = Callable[[int, int, Path], None]
"""``progress(files_done, files_total, path)``, called as each input file passes validation."""


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. ``records`` counts records newly written; ``duplicates`` those skipped."""

    files: int
    records: int
    by_dataspec: dict[str, int] = field(default_factory=dict)
    by_record_type: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


@dataclass(frozen=True)
class Span:
    """Where one record sits in a day file, and the race key it belongs to (header 12-27)."""

    offset: int
    length: int
    race_key: str


# --- the common header, sliced here so this module needs no record parser ---------

def _record_type(rec: bytes) -> str:
    return rec[0:2].decode("ascii", "replace")


def _creation_date(rec: bytes) -> str:
    return rec[3:11].decode("ascii", "replace")


def _race_day(rec: bytes) -> str:
    return rec[11:19].decode("ascii", "replace")


def _race_key(rec: bytes) -> str:
    return rec[11:27].decode("ascii", "replace")


def _valid_date(s: str) -> bool:
    if len(s) != 8 or not s.isdigit():
        return False
    try:
        _dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return False
    return True


def split_records(data: bytes) -> list[bytes]:
    """Cut raw JV-Data into records, each keeping its CRLF.

    Safe because cp932 trail bytes are 0x40-0xFC, so CR LF never occurs inside a
    record. Bytes after the last CRLF mean a truncated record: ValueError.
    """
    records: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.find(CRLF, start)
        if end < 0:
            raise ValueError(f"{len(data) - start} bytes after the last CRLF (truncated record)")
        records.append(data[start:end + 2])
        start = end + 2
    return records


# --- reading, for the file client ------------------------------------------------

def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest, or an empty one for an archive nothing was imported into yet."""
    try:
        data: dict[str, Any] = json.loads((archive / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        return {"format": FORMAT, "generation": 0, "dataspecs": {}}
    return data


def manifest_signature(archive: Path) -> tuple[int, int, int] | None:
    """Cheap change detector: (inode, mtime_ns, size) of the manifest; a replace changes the inode."""
    try:
        st = (archive / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def day_files(archive: Path, kind: str, dataspec: str) -> list[tuple[str, Path]]:
    """``(YYYYMMDD, path)`` of one dataspec's day files, oldest first; temp files ignored."""
    folder = archive / kind / dataspec
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _DAY_FILE.fullmatch(p.name)
        if m:
            out.append((m.group(1), p))
    out.sort()
    return out


def index_file(path: Path) -> tuple[Span, ...]:
    """Offsets and race keys of every record in one day file."""
    data = path.read_bytes()
    spans = []
    offset = 0
    for rec in split_records(data):
        spans.append(Span(offset, len(rec), _race_key(rec)))
        offset += len(rec)
    return tuple(spans)


# --- importing ---------------------------------------------------------------------

def check_record(rec: bytes, spec: catalogue.DataSpec | None) -> tuple[str, str, str]:
    """Validate one record; return (kind, dataspec, day) naming its day file. ValueError if bad."""
    if not rec.endswith(CRLF):
        raise ValueError("record does not end in CRLF")
    rt = _record_type(rec)
    lengths = catalogue.RECORD_LENGTHS.get(rt)
    if lengths is None:
        raise ValueError(f"unknown record type {rec[0:2]!r}")
    if len(rec) not in lengths:
        raise ValueError(f"{rt} record is {len(rec)} bytes; expected {sorted(lengths)} incl. CRLF")
    try:
        rec.decode("cp932")
    except UnicodeDecodeError as e:
        raise ValueError(f"not cp932 at byte {e.start + 1}") from None
    created = _creation_date(rec)
    if not _valid_date(created):
        raise ValueError(f"data creation date {created!r} (bytes 4-11) is not a valid YYYYMMDD")
    if spec is None:
        name = catalogue.default_dataspec_for_record_type(rt)
        if name is None:
            raise ValueError(f"no dataspec delivers record type {rt}; give one explicitly")
        spec = catalogue.DATASPECS[name]
    elif rt not in spec.record_types:
        raise ValueError(f"dataspec {spec.name} never delivers {rt} records "
                         f"(it delivers {' '.join(spec.record_types)})")
    if spec.kind == "realtime" and not _valid_date(_race_day(rec)):
        raise ValueError(f"race day {_race_day(rec)!r} (bytes 12-19) is not a valid YYYYMMDD")
    try:
        # Every field, not only the header: a record that parses on import parses when served.
        records.parse_record(rec)
    except records.RecordError as exc:
        raise ValueError(exc.message) from None
    if spec.kind == "stored":
        return "stored", spec.name, created
    return "realtime", spec.name, _race_day(rec)


@contextlib.contextmanager
def _import_lock(archive: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: the archive is meant for Linux; no cross-process lock
        yield
        return
    with open(archive / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, replace: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


Target = tuple[str, str, str]  # (kind, dataspec, day): where JV-Link delivers a record, as the archive files it


def read_checked(paths: Sequence[Path], dataspec: str | None = None,
                 progress: Progress | None = None) -> tuple[list[bytes], list[Target]]:
    """Every record of ``paths`` in input order and where it is delivered, each validated
    (:func:`check_record`); :class:`InputError` names the file and 1-based record number before
    anything is written. Both importers (this archive, the racing lake) read through it."""
    spec = None
    if dataspec is not None:
        try:
            spec = catalogue.get_dataspec(dataspec)
        except KasokuError as e:
            raise InputError(e.message, details={"dataspec": dataspec}) from None
    out: list[bytes] = []
    targets: list[Target] = []
    for done, path in enumerate(paths, 1):
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", path=str(path)) from None
        try:
            recs = split_records(data)
        except ValueError as e:
            raise InputError(str(e), path=str(path), record=data.count(CRLF) + 1) from None
        for i, rec in enumerate(recs, 1):
            try:
                targets.append(check_record(rec, spec))
            except ValueError as e:
                raise InputError(str(e), path=str(path), record=i) from None
        out.extend(recs)
        if progress is not None:
            progress(done, len(paths), path)
    return out, targets


def import_files(paths: list[Path], archive: Path, dataspec: str | None = None,
                 progress: Progress | None = None) -> ImportSummary:
    """Add the records in ``paths`` to ``archive``; all-or-nothing on bad input.

    Without ``dataspec`` each record goes to the dataspec that delivers its type
    (RA → RACE, UM → DIFF, WH → 0B11). With one (e.g. ``0B15``) every record must be
    a type it delivers, and goes under ``realtime/`` or ``stored/`` by its kind.
    Raises :class:`InputError` (file, 1-based record number) before writing anything.
    """
    records, targets = read_checked(paths, dataspec, progress)
    archive = Path(archive)
    total = len(paths)
    # 1. everything validated; group by target file, keeping input order
    groups: dict[tuple[str, str, str], list[bytes]] = {}
    for rec, target in zip(records, targets, strict=True):
        groups.setdefault(target, []).append(rec)
    if not groups:
        return ImportSummary(files=total, records=0)

    archive.mkdir(parents=True, exist_ok=True)
    with _import_lock(archive):
        # 2. dedupe against what is archived and within the batch
        writes: list[tuple[Path, bytes, list[bytes]]] = []
        duplicates = 0
        for (kind, name, day), recs in sorted(groups.items()):
            target = archive / kind / name / f"{day}.jvd"
            existing = target.read_bytes() if target.exists() else b""
            seen = set(split_records(existing))
            fresh = []
            for rec in recs:
                if rec in seen:
                    duplicates += 1
                else:
                    seen.add(rec)
                    fresh.append(rec)
            if fresh:
                writes.append((target, existing + b"".join(fresh), fresh))
        # 3. write day files, then the manifest (its change is what readers watch)
        manifest = read_manifest(archive)
        by_spec: Counter[str] = Counter()
        by_type: Counter[str] = Counter()
        for target, data, fresh in writes:
            _write_atomic(target, data)
            kind, name = target.parent.parent.name, target.parent.name
            by_spec[name] += len(fresh)
            by_type.update(_record_type(r) for r in fresh)
            entry = manifest["dataspecs"].setdefault(name, {"kind": kind, "files": 0, "records": 0})
            entry["files"] = len(day_files(archive, kind, name))
            entry["records"] += len(fresh)
        if writes:
            manifest["format"] = FORMAT
            manifest["generation"] = int(manifest.get("generation", 0)) + 1
            _write_atomic(archive / MANIFEST,
                          json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    summary = ImportSummary(files=total, records=sum(by_spec.values()), by_dataspec=dict(by_spec),
                            by_record_type=dict(by_type), duplicates=duplicates)
    log.info("imported %d records (%d duplicates) from %d files into %s",
             summary.records, duplicates, total, archive)
    return summary
