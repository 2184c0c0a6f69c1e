"""Decode many records of one layout at once into an Arrow table (vectorised).

``parse_record`` decodes one record into a dict, a Python call per value: fine for a page,
slow for an archive (an O6 record holds 4,896 odds). Here the records of one layout are laid
side by side in one buffer and every field is cut from all of them at once, by the same layout
tables: numbers 8 bytes at a time (unaligned uint64 words, SWAR arithmetic; fields of one width
back to back as one run), codes as Arrow strings over the bytes, a repeated group copied once
into ``records x count`` slots (32,768 at a time, for the caches), its padding slots dropped and
each sub-field decoded over the kept ones. Only text goes through Python, once per column: the
values, a line feed after each, decoded from cp932 in a single call. A value that is not plain
(blank, a sign, '----', garbage) is decoded by the per-record decoder's own function, so both
give the same value or raise the same error (``tests/unit/racing/test_columnar_bytes.py``).

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
from functools import lru_cache, partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing.byterows import (
    SPARE,
    Block,
    all_spaces,
    digit_words,
    edges,
    not_digits,
    offsets,
    padding,
    strings,
    swar,
    text,
)
from kasoku.domains.racing.layouts import RACE_KEY_SLICE, RACE_KEYED, Field, Group, Layout, layout_for_length
from kasoku.domains.racing.records import (
    CRLF,
    RecordError,
    decode_fields,
    decode_value,
    parse_record,
    race_key_of,
    record_type_of,
    value_decoder,
)

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
    head = layout.record_type.encode()
    parts = [b"\0" * SPARE]
    for raw in raws:
        if len(raw) == width and raw[:2] == head:
            parts.append(raw)
        elif len(raw) == width - 2 and raw[:2] == head:
            parts.append(raw + CRLF)
        else:
            _raise_for(raw, layout)
    parts.append(b"\0" * SPARE)
    rows = len(parts) - 2
    block = Block(np.frombuffer(b"".join(parts), np.uint8), rows, width)
    try:
        wanted = set(columns) if columns is not None else None
        items = [item for item in layout.items if wanted is None or item.name in wanted]
        fields = tuple(item for item in items if isinstance(item, Field))
        done: dict[str, pa.Array | pa.ChunkedArray] = {
            **_codes(block, tuple(f for f in fields if f.kind == "code" and f.count == 1)),
            **_numbers(layout.record_type, block, fields)}
        out = {item.name: (done[item.name] if item.name in done
                           else _group(layout.record_type, block, item) if isinstance(item, Group)
                           else _field(layout.record_type, block, item.pos - 1, item))
               for item in items}
        if layout.record_type in RACE_KEYED and (wanted is None or "race_id" in wanted):
            key = block.matrix()[:, RACE_KEY_SLICE]
            if not ((key >= 48) & (key <= 57)).all():
                raise ValueError("race key is not 16 digits")
            out["race_id"] = strings(key, trim=False)
    except _ARROW_ERRORS:
        for raw in parts[1:-1]:  # find the record at fault and raise its precise error
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


def _numbers(rtype: str, block: Block, fields: tuple[Field, ...]) -> dict[str, pa.Array]:
    """The int and scaled fields of up to 8 digits (CK has 70 of them, repeated 6 times, and
    120 more in its groups) a length at a time: fields that follow each other form one run of
    equal-width values, read as one strided view; all runs are decoded together, then cut per
    field. A field with any value that is not plain digits is left to the per-field way
    (absent from the answer)."""
    rows = block.rows
    if rows == 0:
        return {}
    by_length: dict[int, list[Field]] = {}
    for f in fields:
        if f.kind in ("int", "scaled") and f.length <= 8:
            by_length.setdefault(f.length, []).append(f)
    out: dict[str, pa.Array] = {}
    for length, group in by_length.items():
        if sum(f.count for f in group) < 4:
            continue
        runs: list[list[Field]] = []  # fields back to back
        for f in sorted(group, key=lambda f: f.pos):
            if runs and runs[-1][-1].pos - 1 + runs[-1][-1].size == f.pos - 1:
                runs[-1].append(f)
            else:
                runs.append([f])
        counts = [sum(f.count for f in run) for run in runs]
        x = digit_words(np.concatenate([block.words(run[0].pos - 1 + length - 8, count, length)
                                        for run, count in zip(runs, counts)]), length)
        bad = not_digits(x)
        number = swar(x).view(np.int64)
        start = 0
        for run, count in zip(runs, counts):
            values = number[start:start + rows * count].reshape(rows, count)
            odd = bad[start:start + rows * count].reshape(rows, count).any(axis=0).tolist()  # per value column
            column = 0
            for f in run:
                if not any(odd[column:column + f.count]):
                    out[f.name] = _finish(values[:, column:column + f.count].ravel(), f, rows)
                column += f.count
            start += rows * count
    return out


def _finish(number: np.ndarray, f: Field, rows: int) -> pa.Array:
    """int/scaled values (none blank) as ``f``'s column (a list column when repeated)."""
    mask = None
    if f.zero_none:
        null = number == 0
        mask = null if null.any() else None
    values = (pa.array(number, pa.int64(), mask=mask) if f.kind == "int"
              else pa.array(number / f.scale, pa.float64(), mask=mask))
    return values if f.count == 1 else pa.ListArray.from_arrays(offsets(rows, f.count), values)


def _codes(block: Block, fields: tuple[Field, ...]) -> dict[str, pa.Array | pa.ChunkedArray]:
    """The single code fields of a layout (flags, codes: 30 or so in RA, SE, HR) in a few calls
    instead of a few per field: their bytes gathered field after field in one ``take``, one
    string array over all of them, trimmed at once if it needs it, sliced per field. Codes that
    are not all ASCII are left to the per-field way (an empty answer)."""
    if block.rows == 0 or len(fields) < 2:
        return {}
    if block.rows > _CODE_ROWS:  # a chunk of rows at a time: the gather's index stays small
        chunks = []
        for first in range(0, block.rows, _CODE_ROWS):
            rows = min(_CODE_ROWS, block.rows - first)
            part = Block(block.buf[first * block.stride:2 * SPARE + (first + rows) * block.stride], rows, block.stride)
            chunks.append(_codes(part, fields))
            if not chunks[-1]:
                return {}
        return {f.name: pa.chunked_array([chunk[f.name] for chunk in chunks]) for f in fields}
    rows = block.rows
    index, starts = _code_index(block.stride, rows, tuple((f.pos - 1, f.length) for f in fields))
    data = np.take(block.buf, index)
    if data.max() >= 0x80:
        return {}
    array = pa.StringArray.from_buffers(len(starts) - 1, pa.py_buffer(starts), pa.py_buffer(data))
    if edges(data[starts[:-1]]) or edges(data[starts[1:] - 1]):
        array = pc.utf8_trim(array, " \u3000")
    return {f.name: array.slice(n * rows, rows) for n, f in enumerate(fields)}


_CODE_ROWS = 2048


@lru_cache(maxsize=32)
def _code_index(stride: int, rows: int, spans: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Where the bytes of each (start, length) field of every row are in a block's buffer, field
    after field (a field's values side by side), and the offsets of those values."""
    base = SPARE + np.arange(rows, dtype=np.int64)[:, None] * stride
    index = np.concatenate([(base + np.arange(start, start + length)).ravel() for start, length in spans])
    lengths = np.repeat(np.array([length for _, length in spans], dtype=np.int32), rows)
    starts = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=starts[1:])
    index.setflags(write=False)
    starts.setflags(write=False)
    return index, starts


def _field(rtype: str, block: Block, col: int, f: Field) -> pa.Array:
    """Field ``f`` at byte ``col`` of every row; a repeated field becomes a list of ``f.count`` values."""
    values = _values(rtype, block, col, f)
    if f.count == 1:
        return values
    return pa.ListArray.from_arrays(offsets(block.rows, f.count), values)


def _group(rtype: str, block: Block, g: Group) -> pa.Array | pa.ChunkedArray:
    """A repeated group: every slot cut once (one row per slot), padding slots dropped, then each
    sub-field decoded over the kept slots at once; a few thousand slots at a time, so that the
    slots and the arrays made from them stay in the CPU's caches (an O6 of 4,896 slots decodes
    about twice as fast 4 records at a time as 24 at a time)."""
    step = max(1, GROUP_CHUNK_SLOTS // g.count)
    if block.rows <= step:
        return _group_rows(rtype, block, g, 0, block.rows)
    return pa.chunked_array([_group_rows(rtype, block, g, first, min(first + step, block.rows))
                             for first in range(0, block.rows, step)])


GROUP_CHUNK_SLOTS = 32768


def _group_rows(rtype: str, block: Block, g: Group, first: int, end: int) -> pa.Array:
    rows = end - first
    if rows == 0:  # the columns of an empty table
        return _structs(rtype, Block(np.zeros(2 * SPARE, np.uint8), 0, g.width), g, offsets(0, g.count))
    view = np.ndarray((rows, g.count), f"V{g.width}", block.buf, SPARE + first * block.stride + g.pos - 1,
                      (block.stride, g.width))
    slots = Block.of(view)
    keep = ~padding(slots)
    if keep.all():
        kept = slots
        bounds = offsets(rows, g.count)
    else:
        kept = slots.take(np.flatnonzero(keep))
        per_row = keep.reshape(rows, g.count).sum(axis=1, dtype=np.int64)
        bounds = pa.array(np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32))
    return _structs(rtype, kept, g, bounds)


def _structs(rtype: str, kept: Block, g: Group, bounds: pa.Array) -> pa.Array:
    """The kept slots' sub-fields as a list<struct> column with those offsets."""
    done = _numbers(rtype, kept, g.fields)
    children = [done[f.name] if f.name in done else _field(rtype, kept, f.pos - 1, f) for f in g.fields]
    return pa.ListArray.from_arrays(bounds, pa.StructArray.from_arrays(children, [f.name for f in g.fields]))


def _integers(rtype: str, block: Block, col: int, f: Field) -> tuple[np.ndarray, np.ndarray]:
    """(values, null mask) of a fixed-width ASCII number field, rows x count values. Rows of
    digits only are decoded arithmetically, rows of spaces are null; anything else (a sign,
    '----', U+3000, garbage) goes through the per-record decoder's own code for one value
    (``records.value_decoder``), which returns the same value, None, or raises the same
    RecordError. Dates come back as the number YYYYMMDD."""
    length, count = f.length, f.count
    if length > 16:
        raise ValueError(f"{rtype}.{f.name}: numbers of more than 16 digits are not supported")
    number: np.ndarray | None = None
    odd: np.ndarray | None = None
    blank: np.ndarray | None = None
    digits = False
    for start, n in ((col, length - 8), (col + length - 8, 8)) if length > 8 else ((col, length),):
        x = digit_words(block.words(start + n - 8, count, length), n)
        bad = not_digits(x)
        if bad.any():
            spaces = all_spaces(x, n)
            blank = spaces if blank is None else blank & spaces
            odd = bad if odd is None else odd | bad
        else:
            digits = True  # no value is blank: these bytes of each are digits
        value = swar(x)
        number = value if number is None else number * np.uint64(10 ** n) + value
    assert number is not None
    number = number.view(np.int64)
    if odd is None:  # digits only, the usual case
        return number, np.zeros(len(number), bool)
    assert blank is not None
    if digits:
        blank[...] = False
    null = blank
    number[blank] = 0
    _one_by_one(rtype, block, col, f, np.flatnonzero((odd != 0) & ~blank), number, null)
    return number, null


def _one_by_one(rtype: str, block: Block, col: int, f: Field, rows: np.ndarray, number: np.ndarray,
                null: np.ndarray) -> None:
    """Decode the values at ``rows`` as the per-record decoder does, into ``number`` and ``null``
    (scale and ``zero_none`` are applied later, to every value alike)."""
    if not len(rows):
        return
    kind = "date" if f.kind == "date" else "int"  # the number before its scale or minutes
    plain = replace(f, count=1, zero_none=False, scale=1, kind=kind)
    # race times: the per-record decoder takes its general way (decode_value), stricter than int()
    one = partial(decode_value, rtype, plain) if f.kind in ("racetime", "racetime100") else value_decoder(rtype, plain)
    for i in rows:
        value = one(block.at(int(i), col, f.length, f.count))
        if kind == "date" and value is not None:
            value = int(value.replace("-", ""))
        null[i], number[i] = (True, 0) if value is None else (False, value)


def _values(rtype: str, block: Block, col: int, f: Field) -> pa.Array:
    """The values of ``f`` (rows x count of them) as one flat array."""
    if block.rows == 0:
        return pa.array([], _ARROW_TYPES[f.kind])
    if f.kind in ("text", "code", "clock"):
        view = block.cells(col, f.length, f.count)
        if f.kind == "clock":
            return _clock(view)
        if view.max() < 0x80:
            return strings(view)
        return text(view)
    number, null = _integers(rtype, block, col, f)
    if f.kind == "date":
        null |= number == 0
        days, bad = _days(number, null)
        if bad.any():  # not a calendar date as digits: the reference decides (strptime, or its error)
            _one_by_one(rtype, block, col, f, np.flatnonzero(bad), number, null)
            days, bad = _days(number, null)
        return pa.array(days, pa.date32(), mask=null)
    if f.zero_none:
        null |= number == 0
    mask = null if null.any() else None
    if f.kind == "int":
        return pa.array(number, pa.int64(), mask=mask)
    if f.kind == "scaled":
        return pa.array(number / f.scale, pa.float64(), mask=mask)
    unit, per_minute = (1000, 600) if f.kind == "racetime" else (10000, 6000)  # MSSF or MSSHH
    magnitude = np.abs(number)
    minutes = magnitude // unit
    seconds = (minutes * per_minute + magnitude - minutes * unit) / (per_minute // 60)
    return pa.array(np.where(number < 0, -seconds, seconds), pa.float64(), mask=mask)


def _days(number: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YYYYMMDD numbers as datetime64[D], and where they are not a date (outside ``null``);
    year 0 is one for numpy, not for Python's datetime (the per-record decoder)."""
    year, month, day = number // 10000, number // 100 % 100, number % 100
    months = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1).astype("timedelta64[M]")
    days = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    bad = ~null & ((year < 1) | (month < 1) | (month > 12) | (day < 1) | (days.astype("datetime64[M]") != months))
    return days, bad


def _clock(view: np.ndarray) -> pa.Array:
    values = strings(view) if view.max() < 0x80 else text(view)  # U+3000 padding is blank too
    blank = pc.match_substring_regex(values, r"^0*$")
    if not pc.all(pc.or_(blank, pc.match_substring_regex(values, r"^\d{4}$"))).as_py():
        raise ValueError("clock time is not hhmm")
    clock = pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 2),
                                        pc.utf8_slice_codeunits(values, 2, 4), ":")
    return pc.if_else(blank, pa.scalar(None, pa.string()), clock)


_ARROW_TYPES = {"int": pa.int64(), "scaled": pa.float64(), "racetime": pa.float64(), "racetime100": pa.float64(),
                "text": pa.string(), "code": pa.string(), "date": pa.date32(), "clock": pa.string()}
