"""Parse JV-Data fixed-width records (cp932 bytes) into plain dicts.

Public API:
    Record(record_type, data, raw)                           frozen dataclass
    RecordError(InputError)                                  malformed record
    parse_record(raw: bytes, *, keep_raw: bool = False) -> Record
    record_type_of(raw: bytes) -> str
    race_key_of(raw: bytes) -> str | None
    creation_date_of(raw: bytes) -> str
    iter_records(blob: bytes) -> Iterator[bytes]

Bytes are sliced first and decoded per field afterwards: padding is part of the
fixed width and a multi-byte character never straddles two fields, so stripping
or decoding the whole record first would shift every later field.

Values (see ``layouts`` for the kinds):
- numbers: int, or float when scaled; ``None`` for all-spaces, all '-' ('----'),
  all '*' ('****') and, for fields marked ``zero_none`` (odds, lap and section
  times, finish time), all zeros;
- text and codes: str, trimmed of ASCII spaces and U+3000 at both ends only
  ('内田　博幸' keeps its inner full-width space); blank -> '';
- dates: 'YYYY-MM-DD', ``None`` for zeros or blanks; clock times 'HH:MM', ``None``
  for zeros or blanks;
- repeated sub-records: list of dicts, leaving out slots that are only padding
  (spaces, '0', U+3000); repeated scalars: a full-length list.
Race-keyed records also get ``race_id`` (YYYYMMDDJJKKHHRR). An unknown but
well-formed type gets the common header only and ``_layout = 'header-only'``; an
older layout recognised by its length (e.g. UM 1577 bytes) gets ``_layout = 'V4802'``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kasoku.domains.racing.layouts import (
    HEADER,
    LAYOUTS,
    LEGACY_LAYOUTS,
    RACE_KEY_SLICE,
    RACE_KEYED,
    Field,
    Group,
    Layout,
    layout_for_length,
)
from kasoku.errors import InputError

ENCODING = "cp932"
CRLF = b"\r\n"
HEADER_LENGTH = 11  # record_type + data_code + data_creation_date
_PAD = " \u3000"
_NUMBER = re.compile(r"[+-]?\d+")
_TYPE = re.compile(rb"[A-Z0-9]{2}")


class RecordError(InputError):
    """A record that cannot be parsed safely: wrong length, garbage type or field."""

    def __init__(self, message: str, *, record_type: str | None = None, expected: int | None = None,
                 actual: int | None = None) -> None:
        details: dict[str, Any] = {"record_type": record_type}
        if expected is not None:
            details["expected_length"] = expected
        if actual is not None:
            details["actual_length"] = actual
        super().__init__(message, details=details)
        self.record_type = record_type


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed record; ``raw`` is kept only on request (archives are large)."""

    record_type: str
    data: dict[str, Any]
    raw: bytes | None = None


def record_type_of(raw: bytes) -> str:
    """The 2-character record type, e.g. 'RA'; slices only the header."""
    head = bytes(raw[:2])
    if not _TYPE.fullmatch(head):
        raise RecordError(f"record type {head!r} is not two ASCII letters/digits (record is {len(raw)} bytes)",
                          record_type=head.decode("latin-1"), actual=len(raw))
    return head.decode("ascii")


def race_key_of(raw: bytes) -> str | None:
    """The 16-char race key YYYYMMDDJJKKHHRR for race-keyed types, else None."""
    rtype = record_type_of(raw)
    if rtype not in RACE_KEYED:
        return None
    if len(raw) < RACE_KEY_SLICE.stop:
        raise RecordError(f"{rtype} record is {len(raw)} bytes, too short for a race key "
                          f"(needs {RACE_KEY_SLICE.stop})", record_type=rtype,
                          expected=RACE_KEY_SLICE.stop, actual=len(raw))
    key = bytes(raw[RACE_KEY_SLICE])
    if not key.isdigit():
        raise RecordError(f"{rtype} race key {key!r} is not 16 digits", record_type=rtype)
    return key.decode("ascii")


def creation_date_of(raw: bytes) -> str:
    """data_creation_date as 'YYYY-MM-DD' (raises RecordError when blank or invalid)."""
    rtype = record_type_of(raw)
    if len(raw) < HEADER_LENGTH:
        raise RecordError(f"{rtype} record is {len(raw)} bytes, shorter than the {HEADER_LENGTH}-byte header",
                          record_type=rtype, expected=HEADER_LENGTH, actual=len(raw))
    value = _decode_field(rtype, HEADER[2], bytes(raw[3:11]))
    if value is None:
        raise RecordError(f"{rtype} record has no data_creation_date", record_type=rtype)
    return str(value)


def iter_records(blob: bytes) -> Iterator[bytes]:
    """Split a file of CR LF-terminated records, keeping each CR LF.

    Splitting on CR LF is safe in cp932: trail bytes are 0x40-0xFC, never 0x0D/0x0A.
    A last record without CR LF is yielded as is (parse_record accepts it).
    """
    start, n = 0, len(blob)
    while start < n:
        end = blob.find(CRLF, start)
        if end < 0:
            yield blob[start:]
            return
        yield blob[start:end + 2]
        start = end + 2


def parse_record(raw: bytes, *, keep_raw: bool = False) -> Record:
    """Parse one record (with or without its trailing CR LF) by its type's table."""
    raw = bytes(raw)
    rtype = record_type_of(raw)
    layout = _layout_for(rtype, raw)
    data: dict[str, Any] = {}
    if layout is None:
        if len(raw) < HEADER_LENGTH:
            raise RecordError(f"{rtype} record is {len(raw)} bytes, shorter than the {HEADER_LENGTH}-byte header",
                              record_type=rtype, expected=HEADER_LENGTH, actual=len(raw))
        for f in HEADER:
            data[f.name] = _decode_field(rtype, f, raw[f.pos - 1:f.pos - 1 + f.size])
        data["_layout"] = "header-only"
    else:
        data = _row_vectorised(raw, layout) if _slots(layout) >= VECTOR_SLOTS else decode_fields(raw, layout)
        if layout.variant:
            data["_layout"] = layout.variant
    if rtype in RACE_KEYED and len(raw) >= RACE_KEY_SLICE.stop:
        data["race_id"] = race_key_of(raw)
    return Record(rtype, data, raw if keep_raw else None)


# Records with this many repeated slots (O5 816, H1 1,520, O6 and H6 4,896) decode faster through
# the vectorised decoder, even one at a time; the values are the same either way.
VECTOR_SLOTS = 800


def decode_fields(raw: bytes, layout: Layout) -> dict[str, Any]:
    """Every field of ``raw`` by ``layout``, one value at a time: the reference decoder."""
    return {name: decode(raw[start:end]) for name, start, end, decode in _plan(layout)}


def _slots(layout: Layout) -> int:
    return sum(item.count for item in layout.items if isinstance(item, Group))


def _row_vectorised(raw: bytes, layout: Layout) -> dict[str, Any]:
    from kasoku.domains.racing.columnar import decode_row  # columnar builds on this module

    return decode_row(raw, layout)


def _layout_for(rtype: str, raw: bytes) -> Layout | None:
    """The table for this type and length; RecordError when a known type has a wrong length."""
    current = LAYOUTS.get(rtype)
    if current is None:
        return None
    body = len(raw) - 2 if raw.endswith(CRLF) else len(raw)
    layout = layout_for_length(rtype, body + 2)
    if layout is not None:
        return layout
    known = ", ".join(f"{lay.length}" + (f" ({lay.variant})" if lay.variant else "")
                      for lay in (current, *(v for (t, _), v in LEGACY_LAYOUTS.items() if t == rtype)))
    short = "shorter than" if body < current.length - 2 else "does not match"
    raise RecordError(f"{rtype} record is {len(raw)} bytes ({body} without CR LF), {short} the expected "
                      f"length {current.length} incl. CR LF (known: {known})",
                      record_type=rtype, expected=current.length, actual=len(raw))


_Decode = Callable[[bytes], Any]
_PLANS: dict[int, tuple[tuple[str, int, int, _Decode], ...]] = {}
_IDEOGRAPHIC_SPACE = "\u3000".encode(ENCODING)


def _plan(layout: Layout) -> tuple[tuple[str, int, int, _Decode], ...]:
    """(name, start, end, decode) per item, built once per layout: the per-record loop is then
    a slice and one call per field, with the common cases (digits, cp932 text) inlined and
    anything unusual handed to ``decode_value`` (blanks, '----', dates, errors)."""
    plan = _PLANS.get(id(layout))
    if plan is None:
        plan = tuple((item.name, item.pos - 1, item.pos - 1 + item.size,
                      _group_decoder(layout.record_type, item) if isinstance(item, Group)
                      else _field_decoder(layout.record_type, item)) for item in layout.items)
        _PLANS[id(layout)] = plan
    return plan


def _field_decoder(rtype: str, f: Field) -> _Decode:
    one = value_decoder(rtype, f)
    if f.count == 1:
        return one
    width, count = f.length, f.count
    return lambda chunk: [one(chunk[i * width:(i + 1) * width]) for i in range(count)]


def value_decoder(rtype: str, f: Field) -> _Decode:
    """One value of ``f`` from its bytes, as ``decode_fields`` decodes it (the vectorised decoder
    hands it the values that are not plain digits, so both give the same value or error)."""
    def slow(chunk: bytes) -> Any:
        return decode_value(rtype, f, chunk)

    if f.kind in ("text", "code"):
        def text(chunk: bytes) -> Any:
            try:
                return chunk.decode(ENCODING).strip(_PAD)
            except UnicodeDecodeError:
                return slow(chunk)
        return text
    if f.kind in ("int", "scaled"):
        scale, zero_none, scaled = f.scale, f.zero_none, f.kind == "scaled"

        def number(chunk: bytes) -> Any:
            if b"_" in chunk:  # int() would accept '1_0'; the slow path refuses it
                return slow(chunk)
            try:
                value = int(chunk)
            except ValueError:
                return slow(chunk)  # blank, '----', '****' -> None; garbage -> RecordError
            if zero_none and value == 0:
                return None
            return value / scale if scaled else value
        return number
    return slow


def _group_decoder(rtype: str, group: Group) -> _Decode:
    subs = tuple((f.name, f.pos - 1, f.pos - 1 + f.size, _field_decoder(rtype, f)) for f in group.fields)
    width, count = group.width, group.count

    def decode(chunk: bytes) -> list[dict[str, Any]]:
        rows = []
        for n in range(count):
            slot = chunk[n * width:(n + 1) * width]
            if not slot.replace(_IDEOGRAPHIC_SPACE, b"").strip(b" 0"):
                continue  # an unused slot: only spaces, zeros and full-width spaces
            rows.append({name: dec(slot[a:b]) for name, a, b, dec in subs})
        return rows
    return decode


def _decode_field(rtype: str, f: Field, chunk: bytes) -> Any:
    if f.count > 1:
        return [decode_value(rtype, f, chunk[i * f.length:(i + 1) * f.length]) for i in range(f.count)]
    return decode_value(rtype, f, chunk)


def decode_value(rtype: str, f: Field, chunk: bytes) -> Any:
    """One value of ``f`` from its bytes, by the rules above; RecordError when it cannot be."""
    try:
        text = chunk.decode(ENCODING)
    except UnicodeDecodeError:
        raise RecordError(f"{rtype}.{f.name}: bytes {chunk!r} are not valid cp932 (mis-sliced field?)",
                          record_type=rtype) from None
    if f.kind in ("text", "code"):
        return text.strip(_PAD)
    stripped = text.strip(_PAD)
    if f.kind == "date":
        if not stripped.strip("0"):
            return None
        try:
            return dt.datetime.strptime(stripped, "%Y%m%d").date().isoformat()
        except ValueError:
            raise RecordError(f"{rtype}.{f.name}: {text!r} is not a YYYYMMDD date", record_type=rtype) from None
    if f.kind == "clock":
        if not stripped.strip("0"):
            return None
        if len(stripped) != 4 or not stripped.isdigit():
            raise RecordError(f"{rtype}.{f.name}: {text!r} is not an hhmm time", record_type=rtype)
        return f"{stripped[:2]}:{stripped[2:]}"
    # Numbers: int, scaled or racetime.
    if not stripped or not stripped.strip("-") or not stripped.strip("*"):
        return None
    if not _NUMBER.fullmatch(stripped):
        raise RecordError(f"{rtype}.{f.name}: {text!r} is not a number", record_type=rtype)
    number = int(stripped)
    if f.zero_none and number == 0:
        return None
    if f.kind == "int":
        return number
    if f.kind == "scaled":
        return number / f.scale
    if f.kind == "racetime100":  # MSSHH: 24245 -> 2:42.45
        minutes, hundredths = divmod(abs(number), 10000)
        seconds = (minutes * 6000 + hundredths) / 100
        return -seconds if number < 0 else seconds
    minutes, tenths = divmod(abs(number), 1000)  # racetime MSSF: 1234 -> 1:23.4
    seconds = (minutes * 600 + tenths) / 10
    return -seconds if number < 0 else seconds
