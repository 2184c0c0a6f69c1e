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

import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing.layouts import LAYOUTS, RACE_KEY_SLICE, RACE_KEYED, Field, Group, Layout, layout_for_length
from kasoku.domains.racing.records import CRLF, ENCODING, RecordError, parse_record, record_type_of

_BLANK_NUMBER = r"^(|-+|\*+)$"  # spaces trimmed first: blank, '----' and '****' are "no value"
_PADDING = (b" ", b"0", "\u3000".encode(ENCODING))
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
        layout = LAYOUTS.get(record_type_of(raws[0])) or LAYOUTS["RA"]
    width = layout.length
    parts = []
    for raw in raws:
        if len(raw) == width and raw[:2] == layout.record_type.encode():
            parts.append(raw)
        elif len(raw) == width - 2 and raw[:2] == layout.record_type.encode():
            parts.append(raw + CRLF)
        else:
            _raise_for(raw, layout)
    records = _fixed(pa.py_buffer(b"".join(parts)), width, len(parts))
    try:
        wanted = set(columns) if columns is not None else None
        out = {item.name: (_group(records, item, len(parts)) if isinstance(item, Group)
                           else _field(pc.binary_slice(records, item.pos - 1, item.pos - 1 + item.size),
                                       item, len(parts)))
               for item in layout.items if wanted is None or item.name in wanted}
        if layout.record_type in RACE_KEYED and (wanted is None or "race_id" in wanted):
            key = _ascii(pc.binary_slice(records, RACE_KEY_SLICE.start, RACE_KEY_SLICE.stop))
            if not pc.all(pc.match_substring_regex(key, r"^\d{16}$")).as_py():
                raise ValueError("race key is not 16 digits")
            out["race_id"] = key
    except _ARROW_ERRORS:
        for raw in parts:  # find the record at fault and raise its precise error
            parse_record(raw)
        raise
    return pa.table(out, metadata={b"record_type": layout.record_type.encode(),
                                       b"layout": (layout.variant or "current").encode()})


def _raise_for(raw: bytes, layout: Layout) -> None:
    parse_record(raw)  # a record of another type or length: its own error, if it has one
    raise RecordError(f"{record_type_of(raw)} record of {len(raw)} bytes does not belong in a table of "
                      f"{layout.record_type} ({layout.length} bytes)", record_type=layout.record_type,
                      expected=layout.length, actual=len(raw))


def _fixed(buffer: pa.Buffer, width: int, n: int) -> pa.FixedSizeBinaryArray:
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, buffer])


def _elements(chunk: pa.Array, width: int, n: int) -> pa.FixedSizeBinaryArray:
    """A column of ``n`` equal-width slices re-read as ``len(chunk) * n`` elements of ``width``."""
    data = chunk.buffers()[1] if pa.types.is_fixed_size_binary(chunk.type) else chunk.buffers()[2]
    offset = chunk.offset * chunk.type.byte_width if pa.types.is_fixed_size_binary(chunk.type) else 0
    return _fixed(data.slice(offset, width * n), width, n)


def _offsets(n: int, step: int) -> pa.Array:
    return pa.array(range(0, (n + 1) * step, step), pa.int32())


def _field(chunk: pa.Array, f: Field, n: int) -> pa.Array:
    if f.count == 1:
        return _values(chunk, f)
    values = _values(_elements(chunk, f.length, n * f.count), f)
    return pa.ListArray.from_arrays(_offsets(n, f.count), values)


def _group(records: pa.Array, g: Group, n: int) -> pa.Array:
    region = pc.binary_slice(records, g.pos - 1, g.pos - 1 + g.size)
    slots = _elements(region, g.width, n * g.count)
    keep = pc.invert(_padding(slots))
    kept = slots.filter(keep)
    children = [_field(pc.binary_slice(kept, f.pos - 1, f.pos - 1 + f.size), f, len(kept)) for f in g.fields]
    structs = pa.StructArray.from_arrays(children, [f.name for f in g.fields])
    running = pc.cumulative_sum(keep.cast(pa.int32()))
    ends = running.take(pa.array(range(g.count - 1, n * g.count, g.count))) if n else pa.array([], pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), ends.cast(pa.int32())])
    return pa.ListArray.from_arrays(offsets, structs)


def _padding(slots: pa.Array) -> pa.Array:
    """True for a slot of only spaces, '0' and U+3000 (an unused element)."""
    as_binary = slots.cast(pa.binary())
    try:  # odds, votes, numbers: ASCII, one cheap trim
        return pc.equal(pc.ascii_trim(as_binary.cast(pa.string()), " 0"), "")
    except pa.ArrowInvalid:  # cp932 text inside: drop the padding byte sequences
        rest = as_binary
        for pad in _PADDING:
            rest = pc.replace_substring(rest, pad, b"")
        return pc.equal(pc.binary_length(rest), 0)


def _values(chunk: pa.Array, f: Field) -> pa.Array:
    if f.kind == "text":
        return _text(chunk)
    if f.kind == "code":
        try:
            return pc.utf8_trim(_ascii(chunk), " \u3000")
        except pa.ArrowInvalid:  # not ASCII/UTF-8: cp932 like text
            return _text(chunk)
    raw = pc.utf8_trim(_ascii(chunk), " ")
    if f.kind == "date":
        blank = pc.match_substring_regex(raw, r"^0*$")
        parsed = pc.strptime(pc.if_else(blank, pa.scalar("19700101"), raw), "%Y%m%d", unit="s").cast(pa.date32())
        return pc.if_else(blank, pa.scalar(None, pa.date32()), parsed)
    if f.kind == "clock":
        blank = pc.match_substring_regex(raw, r"^0*$")
        if not pc.all(pc.or_(blank, pc.match_substring_regex(raw, r"^\d{4}$"))).as_py():
            raise ValueError("clock time is not hhmm")
        clock = pc.binary_join_element_wise(pc.utf8_slice_codeunits(raw, 0, 2), pc.utf8_slice_codeunits(raw, 2, 4),
                                            ":")
        return pc.if_else(blank, pa.scalar(None, pa.string()), clock)
    if pc.all(pc.ascii_is_decimal(raw)).as_py():  # the common case: digits only, nothing blank
        number = raw.cast(pa.int64())
    else:
        blank = pc.match_substring_regex(raw, _BLANK_NUMBER)
        number = pc.if_else(blank, pa.scalar(None, pa.string()), raw).cast(pa.int64())
    if f.zero_none:
        number = pc.if_else(pc.equal(number, 0), pa.scalar(None, pa.int64()), number)
    if f.kind == "int":
        return number
    if f.kind == "scaled":
        return pc.divide(number.cast(pa.float64()), float(f.scale))
    unit, per_minute = (1000, 600) if f.kind == "racetime" else (10000, 6000)  # MSSF or MSSHH
    magnitude = pc.abs(number)
    minutes = pc.divide(magnitude, unit)  # integer division
    rest = pc.subtract(magnitude, pc.multiply(minutes, unit))
    seconds = pc.divide(pc.add(pc.multiply(minutes, per_minute), rest).cast(pa.float64()), float(per_minute // 60))
    return pc.if_else(pc.less(number, 0), pc.negate(seconds), seconds)


def _ascii(chunk: pa.Array) -> pa.Array:
    if pa.types.is_fixed_size_binary(chunk.type):
        chunk = chunk.cast(pa.binary())
    return chunk.cast(pa.string())


def _text(chunk: pa.Array) -> pa.Array:
    """cp932 text: one join, one decode and one split per column, then trimmed by Arrow."""
    if len(chunk) == 0:
        return pa.array([], pa.string())
    if pa.types.is_fixed_size_binary(chunk.type):
        data = _elements(chunk, chunk.type.byte_width, len(chunk)).buffers()[1].to_pybytes()
        width = chunk.type.byte_width
        joined = b"\n".join([data[i:i + width] for i in range(0, width * len(chunk), width)])
    else:
        joined = b"\n".join(chunk.to_pylist())
    values = joined.decode(ENCODING).split("\n")
    return pc.utf8_trim(pa.array(values, pa.string()), " \u3000")
