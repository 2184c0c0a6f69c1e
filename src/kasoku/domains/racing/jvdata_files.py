"""Read raw JV-Data files and validate every record before anything is written.

A JV-Data file is raw records exactly as JV-Link delivers them: cp932, fixed width, one record
per CRLF line. :func:`read_checked` cuts files into records and checks each one (length for its
type, cp932, header dates, the dataspec that delivers it, every field parses), so an import is
all-or-nothing: a bad record is an :class:`InputError` naming the file and the 1-based record
number. It also says where JV-Link delivers each record (:data:`Target`): stored dataspecs by
data-creation date (JVOpen's ``fromtime``), realtime ones by race day (JVRTOpen's key) — the
``kind``/``dataspec``/``day`` of the lake's raw-record table (``jvdata_raw``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from pathlib import Path

from kasoku.domains.racing import catalogue, records
from kasoku.errors import InputError, KasokuError

__all__ = ["CRLF", "Progress", "Target", "check_record", "read_checked", "split_records"]

CRLF = b"\r\n"

Progress = Callable[[int, int, Path], None]
"""``progress(files_done, files_total, path)``, called as each input file passes validation."""

Target = tuple[str, str, str]
"""(kind, dataspec, day): where JV-Link delivers a record — ``stored`` by creation date, ``realtime`` by race day."""


def _creation_date(rec: bytes) -> str:
    return rec[3:11].decode("ascii", "replace")


def _race_day(rec: bytes) -> str:
    return rec[11:19].decode("ascii", "replace")


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
    out: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.find(CRLF, start)
        if end < 0:
            raise ValueError(f"{len(data) - start} bytes after the last CRLF (truncated record)")
        out.append(data[start:end + 2])
        start = end + 2
    return out


def check_record(rec: bytes, spec: catalogue.DataSpec | None) -> Target:
    """Validate one record; return where it is delivered. ValueError if bad.

    Without ``spec`` the record goes to the dataspec that delivers its type (RA → RACE,
    UM → DIFF, WH → 0B11); with one, the record's type must be one it delivers."""
    if not rec.endswith(CRLF):
        raise ValueError("record does not end in CRLF")
    rt = rec[0:2].decode("ascii", "replace")
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


def read_checked(paths: Sequence[Path], dataspec: str | None = None,
                 progress: Progress | None = None) -> tuple[list[bytes], list[Target]]:
    """Every record of ``paths`` in input order and where it is delivered, each validated
    (:func:`check_record`); :class:`InputError` names the file and 1-based record number before
    anything is written."""
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
