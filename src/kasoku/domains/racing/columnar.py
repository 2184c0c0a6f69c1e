"""Decode many records of one layout at once into an Arrow table (vectorised).

``parse_record`` decodes one record into a dict, a Python call per value: fine for a page,
slow for an archive (an O6 record holds 4,896 odds). Here the records of one layout are laid
side by side in one buffer and every field is cut from all of them by one Arrow kernel call;
a repeated group is cut once into ``records x count`` elements, its padding slots dropped,
and each sub-field decoded in one call over all elements. Only text goes through Python, once
per column: the values are joined and decoded from cp932 in a single call.

Public API:
    decode_table(raws, layout=None, *, columns=None) -> pyarrow.Table   records of one layout
    decode_tables(raws) -> dict[str, pyarrow.Table]        any mix; keys 'RA', 'UM_V4802', ...

Values are those of ``parse_record`` in Arrow types: int64 and float64 numbers (null where the
dict has None), strings for codes and text, ``date32`` for dates, 'HH:MM' strings for clock
times; a repeated field is ``list<...>`` with every element, a group ``list<struct<...>>``
without its padding slots; race-keyed layouts get ``race_id``. A record that does not decode
raises the same ``RecordError`` ``parse_record`` raises for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing.layouts import RACE_KEY_SLICE, RACE_KEYED, Field, Group, Layout, layout_for_length
from kasoku.domains.racing.records import (
    CRLF,
    ENCODING,
    RecordError,
    decode_fields,
    decode_value,
    parse_record,
    race_key_of,
    record_type_of,
)

_IDEOGRAPHIC_SPACE = "\u3000".encode(ENCODING)
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError)


def decode_tables(raws: Iterable[bytes]) -> dict[str, pa.Table]:
    """Group records by layout (type and length) and decode each group; keys are the record
    type, with ``_V4802`` appended for an older layout."""
    by_layout: dict[tuple[str, int], list[bytes]] = {}
    for raw in raws:
        body = len(raw) - 2 if raw.endswith(CRLF) else len(raw)
        by_layout.setdefault((record_type_of(raw), body + 2), []).append(raw)
    tables: dict[str, pa.Table] = {}
    for (rtype, length), group in by_layout.items():
        layout = layout_for_length(rtype, length)
        if layout is None:
            parse_record(group[0])  # raises the precise error (unknown type or wrong length)
            continue
        tables[rtype + (f"_{layout.variant}" if layout.variant else "")] = decode_table(group, layout)
    return tables


def decode_table(raws: Sequence[bytes], layout: Layout | None = None, *,
                 columns: Collection[str] | None = None) -> pa.Table:
    """All ``raws`` (one layout, with or without CR LF) as one table, one row per record.

    ``columns`` decodes only those fields (lazily: the bytes of the others are never looked
    at), e.g. the race key and the totals of an O6 without its 4,896 odds."""
    if layout is None:
        if not raws:
            raise ValueError("decode_table needs a layout or at least one record")
        first = raws[0]
        layout = layout_for_length(record_type_of(first), len(first) + (0 if first.endswith(CRLF) else 2))
        if layout is None:
            parse_record(first)  # raises: unknown type or wrong length
            raise RecordError(f"no layout for {first[:2]!r}")
    width = layout.length
    parts = []
    for raw in raws:
        if len(raw) == width and raw[:2] == layout.record_type.encode():
            parts.append(raw)
        elif len(raw) == width - 2 and raw[:2] == layout.record_type.encode():
            parts.append(raw + CRLF)
        else:
            _raise_for(raw, layout)
    matrix = np.frombuffer(b"".join(parts), np.uint8).reshape(len(parts), width)
    try:
        wanted = set(columns) if columns is not None else None
        out = {item.name: (_group(layout.record_type, matrix, item) if isinstance(item, Group)
                           else _field(layout.record_type, matrix[:, item.pos - 1:item.pos - 1 + item.size], item))
               for item in layout.items if wanted is None or item.name in wanted}
        if layout.record_type in RACE_KEYED and (wanted is None or "race_id" in wanted):
            key = matrix[:, RACE_KEY_SLICE]
            if not ((key >= 48) & (key <= 57)).all():
                raise ValueError("race key is not 16 digits")
            out["race_id"] = _strings(key, trim=False)
    except _ARROW_ERRORS:
        for raw in parts:  # find the record at fault and raise its precise error
            decode_fields(raw, layout)
            if layout.record_type in RACE_KEYED:
                race_key_of(raw)
        raise
    return pa.table(out, metadata={b"record_type": layout.record_type.encode(),
                                   b"layout": (layout.variant or "current").encode()})


def decode_row(raw: bytes, layout: Layout) -> dict[str, Any]:
    """One record as ``parse_record``'s dict (dates as 'YYYY-MM-DD', no ``race_id``), through
    the vectorised decoder: faster for records with thousands of repeated slots (O6, H6)."""
    row: dict[str, Any] = decode_table([raw], layout).to_pylist()[0]
    row.pop("race_id", None)
    for name in _dates(layout):
        value = row[name]
        row[name] = value.isoformat() if value is not None else None
    return row


def _dates(layout: Layout) -> tuple[str, ...]:
    """Top-level date fields (no repeated group of a vectorised layout holds a date)."""
    if any(isinstance(item, Group) and any(f.kind == "date" for f in item.fields) for item in layout.items):
        raise ValueError(f"{layout.record_type}: dates inside groups are not converted by decode_row")
    return tuple(item.name for item in layout.items if isinstance(item, Field) and item.kind == "date")


def _raise_for(raw: bytes, layout: Layout) -> None:
    parse_record(raw)  # a record of another type or length: its own error, if it has one
    raise RecordError(f"{record_type_of(raw)} record of {len(raw)} bytes does not belong in a table of "
                      f"{layout.record_type} ({layout.length} bytes)", record_type=layout.record_type,
                      expected=layout.length, actual=len(raw))


def _offsets(n: int, step: int) -> pa.Array:
    return pa.array(np.arange(0, (n + 1) * step, step, dtype=np.int32))


def _field(rtype: str, view: np.ndarray, f: Field) -> pa.Array:
    """``view``: (rows, f.size) bytes; a repeated field becomes a list of ``f.count`` values."""
    if f.count == 1:
        return _values(rtype, view, f)
    rows = view.shape[0]
    values = _values(rtype, view.reshape(rows * f.count, f.length), f)
    return pa.ListArray.from_arrays(_offsets(rows, f.count), values)


def _group(rtype: str, matrix: np.ndarray, g: Group) -> pa.Array:
    rows = matrix.shape[0]
    slots = matrix[:, g.pos - 1:g.pos - 1 + g.size].reshape(rows * g.count, g.width)
    keep = ~_padding(slots)
    kept = slots if keep.all() else slots[keep]
    children = [_field(rtype, kept[:, f.pos - 1:f.pos - 1 + f.size], f) for f in g.fields]
    structs = pa.StructArray.from_arrays(children, [f.name for f in g.fields])
    per_row = keep.reshape(rows, g.count).sum(axis=1, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), structs)


def _padding(slots: np.ndarray) -> np.ndarray:
    """True for a slot of only spaces, '0' and U+3000 (an unused element). Works on the
    transposed bytes (one contiguous row per byte position): numpy is fast along rows."""
    cols = np.ascontiguousarray(slots.T)
    pad = (cols == 32) | (cols == 48)
    blank = pad.all(axis=0)
    if blank.all():
        return blank
    maybe = ~blank & (pad | (cols == 0x81) | (cols == 0x40)).all(axis=0)
    for i in np.flatnonzero(maybe):  # only 0x81 0x40 pairs (U+3000) may stand in for padding
        blank[i] = not slots[i].tobytes().replace(_IDEOGRAPHIC_SPACE, b"").strip(b" 0")
    return blank


def _strings(view: np.ndarray, *, trim: bool = True) -> pa.Array:
    """ASCII (or already valid) bytes as a string column without a copy per value."""
    rows, width = view.shape
    data = np.ascontiguousarray(view)
    array = pa.StringArray.from_buffers(rows, pa.py_buffer(_offsets(rows, width).to_numpy()),
                                        pa.py_buffer(data))
    return pc.utf8_trim(array, " \u3000") if trim and ((data == 32).any() or (data == 0x81).any()) else array


def _values(rtype: str, view: np.ndarray, f: Field) -> pa.Array:
    if view.shape[0] == 0:
        return pa.array([], _ARROW_TYPES[f.kind])
    if f.kind in ("text", "code"):
        if (view < 0x80).all():
            return _strings(view)
        return _text(view)
    if f.kind == "clock":
        strings = _strings(view)
        blank = pc.match_substring_regex(strings, r"^0*$")
        if not pc.all(pc.or_(blank, pc.match_substring_regex(strings, r"^\d{4}$"))).as_py():
            raise ValueError("clock time is not hhmm")
        clock = pc.binary_join_element_wise(pc.utf8_slice_codeunits(strings, 0, 2),
                                            pc.utf8_slice_codeunits(strings, 2, 4), ":")
        return pc.if_else(blank, pa.scalar(None, pa.string()), clock)
    number, null = _digits(rtype, view, f)
    if f.kind == "date":
        null |= number == 0
        year, month, day = number // 10000, number // 100 % 100, number % 100
        days = ((year - 1970).astype("datetime64[Y]").astype("datetime64[M]")
                + (month - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
        bad = ~null & ((month < 1) | (month > 12) | (day < 1)
                       | (days.astype("datetime64[M]") != (year - 1970).astype("datetime64[Y]").astype("datetime64[M]")
                          + (month - 1).astype("timedelta64[M]")))
        if bad.any():
            raise ValueError("not a YYYYMMDD date")
        return pa.array(days, pa.date32(), mask=null)
    if f.zero_none:
        null |= number == 0
    if f.kind == "int":
        return pa.array(number, pa.int64(), mask=null)
    if f.kind == "scaled":
        return pa.array(number / f.scale, pa.float64(), mask=null)
    unit, per_minute = (1000, 600) if f.kind == "racetime" else (10000, 6000)  # MSSF or MSSHH
    magnitude = np.abs(number)
    minutes = magnitude // unit
    seconds = (minutes * per_minute + magnitude - minutes * unit) / (per_minute // 60)
    return pa.array(np.where(number < 0, -seconds, seconds), pa.float64(), mask=null)


def _digits(rtype: str, view: np.ndarray, f: Field) -> tuple[np.ndarray, np.ndarray]:
    """(values, null mask) of fixed-width ASCII numbers: all-digit rows in one matrix product;
    anything else (blank, '----', a sign, garbage) through the per-record decoder, which
    returns None or raises the RecordError a single record would."""
    digits = np.ascontiguousarray(view.T) - np.uint8(48)  # one row per position; wraps below '0'
    number = digits[0].astype(np.int64)
    for row in digits[1:]:  # Horner, one vector operation per digit position
        number = number * 10 + row
    null = np.zeros(view.shape[0], dtype=bool)
    odd = np.flatnonzero((digits > 9).any(axis=0))
    if len(odd):
        plain = replace(f, count=1, zero_none=False, kind="int")
        for i in odd:
            value = decode_value(rtype, plain, view[i].tobytes())
            if value is None:
                null[i] = True
                number[i] = 0
            else:
                number[i] = value
    return number, null


def _text(view: np.ndarray) -> pa.Array:
    """cp932 text: one join, one decode and one split per column, then trimmed by Arrow."""
    rows, width = view.shape
    data = np.ascontiguousarray(view).tobytes()
    joined = b"\n".join([data[i:i + width] for i in range(0, width * rows, width)])
    values = joined.decode(ENCODING).split("\n")
    return pc.utf8_trim(pa.array(values, pa.string()), " \u3000")


_ARROW_TYPES = {"int": pa.int64(), "scaled": pa.float64(), "racetime": pa.float64(), "racetime100": pa.float64(),
                "text": pa.string(), "code": pa.string(), "date": pa.date32(), "clock": pa.string()}
