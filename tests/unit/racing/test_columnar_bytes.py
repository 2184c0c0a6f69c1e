"""The vectorised decoder equals the per-record reference decoder on arbitrary bytes.

``test_roundtrip`` checks both decoders on records the builder makes (valid values only).
Here records get regions (a field, a repeated group's slot, a sub-field) overwritten with
the bytes that make decoding hard: runs of spaces, '0' and U+3000 (padding, or not quite),
'----', '****', signs, half-blank numbers, cp932 text with and without padding, a lone lead
byte, a line feed. Whatever ``decode_fields`` (one value at a time) returns, ``decode_table``
returns the same values for that record in a batch; whenever the reference raises a
``RecordError``, so does the vectorised decoder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasoku.domains.racing.builder import build_record
from kasoku.domains.racing.byterows import text
from kasoku.domains.racing.columnar import decode_table
from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS, RACE_KEYED, Group, Layout
from kasoku.domains.racing.records import RecordError, decode_fields

_ALL = [*LAYOUTS.values(), *LEGACY_LAYOUTS.values()]
# The header and the race key stay intact: both decoders check those the same way, elsewhere.
_HEADER, _RACE_KEY_END = 11, 27

_PIECES = [b" ", b"0", "\u3000".encode("cp932"), b"1", b"9", b"-", b"*", b"+", b"@", b"\x81", b"_",
           "馬".encode("cp932"), "ア".encode("cp932"), "ｱ".encode("cp932"), b"A", b"\n"]


Region = tuple[int, int, str]  # start (0-based), length, kind ('slot' for a whole group slot)


def _regions(layout: Layout) -> list[list[Region]]:
    """Per field past the race key (a group: its slots, and per sub-field its values in each
    slot), the places it may be written at: a field is drawn first, then a place, so every
    field gets its turn whatever its count of slots."""
    out: list[list[Region]] = []
    first = _RACE_KEY_END if layout.record_type in RACE_KEYED else _HEADER
    for item in layout.items:
        start = item.pos - 1
        if start < first:
            continue
        if isinstance(item, Group):
            slots = [start + n * item.width for n in range(item.count)]
            out.append([(slot, item.width, "slot") for slot in slots])
            for f in item.fields:
                out.append([(slot + f.pos - 1 + n * f.length, f.length, f.kind) for slot in slots
                            for n in range(f.count)])
        else:
            out.append([(start + n * item.length, item.length, item.kind) for n in range(item.count)])
    return out


def _fill(length: int, kind: str) -> st.SearchStrategy[bytes]:
    """Bytes a field of ``kind`` may hold, mostly valid: digits (with leading zeros, spaces or a
    sign), text (padded with spaces or U+3000), blanks, zeros, U+3000 runs."""
    sizes = st.one_of(st.integers(0, length),  # counts of digits; around 8 they meet the 8-byte words
                      st.sampled_from(sorted({n for n in (7, 8, 9, length - 8, length) if 0 <= n <= length})))
    number = sizes.flatmap(lambda size: st.integers(10 ** size // 10, 10 ** size - 1))
    digits = number.map(lambda n: str(n).zfill(length).encode())
    padded = st.tuples(number, st.sampled_from(["", "", "-", "+"])).map(
        lambda t: (t[1] + str(t[0])).rjust(length).encode()[-length:])
    text = st.text("馬名東京アイウｱｲ AZ09・ー", max_size=length).map(lambda s: _fit(s, length, " "))
    kana = st.text("アイウ競走", max_size=length // 2).map(lambda s: _fit(s, length, "\u3000"))
    blanks = st.lists(st.sampled_from([" ", "0", "\u3000"]), min_size=1, max_size=length).map(
        lambda parts: _fit("".join(parts), length, " "))
    dashes = st.sampled_from([b"-", b"*"]).map(lambda c: c * length)
    if kind == "slot":
        return st.one_of(blanks, st.just(b" " * length), st.just(b"0" * length))
    if kind in ("text", "code"):
        return st.one_of(text, kana, blanks)
    uniform = st.sampled_from([b" ", b"0", "\u3000".encode("cp932")]).map(lambda c: (c * length)[:length])
    return st.one_of(digits, padded, uniform, dashes)


def _fit(text: str, length: int, pad: str) -> bytes:
    """``text`` in cp932, as many whole characters as fit, then ``pad`` (and spaces) to ``length``."""
    out = b""
    for char in text + pad * length:
        code = char.encode("cp932")
        if len(out) + len(code) > length:
            break
        out += code
    return out.ljust(length, b" ")


def _garbage(length: int) -> st.SearchStrategy[bytes]:
    """Anything: pieces of numbers, text, padding, a lone lead byte, a line feed."""
    return st.lists(st.sampled_from(_PIECES), min_size=1, max_size=length).map(
        lambda parts: (b"".join(parts) * length)[:length])


@st.composite
def _records(draw: st.DrawFn, layout: Layout) -> bytes:
    fields: dict[str, Any] = {"race_id": "2024060105030111"} if layout.record_type in RACE_KEYED else {}
    if layout.variant:
        fields["_layout"] = layout.variant
    raw = bytearray(build_record(layout.record_type, **fields))
    regions = _regions(layout)
    garbage = draw(st.integers(0, 3)) == 3  # a quarter of the records get anything anywhere
    for _ in range(draw(st.integers(1, 12))):
        start, length, kind = draw(st.sampled_from(draw(st.sampled_from(regions))))
        raw[start:start + length] = draw(_garbage(length) if garbage else _fill(length, kind))
    return bytes(raw)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _reference(raw: bytes, layout: Layout) -> dict[str, Any] | RecordError:
    try:
        data = decode_fields(raw, layout)
    except RecordError as error:
        return error
    if layout.record_type in RACE_KEYED:
        data["race_id"] = raw[11:27].decode()
    return data


def _assert_decodes_as_reference(raw: bytes, layout: Layout) -> None:
    """The vectorised decoder gives the per-record decoder's values, or fails where it fails."""
    expected = _reference(raw, layout)
    if isinstance(expected, RecordError):
        with pytest.raises(RecordError):
            decode_table([raw], layout)
    else:
        assert _plain(decode_table([raw], layout).to_pylist()[0]) == expected


@pytest.mark.parametrize("layout", _ALL, ids=lambda lay: lay.record_type + (f"_{lay.variant}" if lay.variant else ""))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_vectorised_equals_reference_on_hard_bytes(layout: Layout, data: st.DataObject) -> None:
    raws = [data.draw(_records(layout)) for _ in range(data.draw(st.integers(1, 3)))]
    expected = [_reference(raw, layout) for raw in raws]
    errors = [e for e in expected if isinstance(e, RecordError)]
    if errors:
        with pytest.raises(RecordError):
            decode_table(raws, layout)
        return
    assert [_plain(row) for row in decode_table(raws, layout).to_pylist()] == expected


@pytest.mark.parametrize("value", [b"   12345678", b"        123", b"12345678   ", b"    -123456", b"           ",
                                   b"00000000000", b"-----------", b"\x81\x40\x81\x40\x81\x40   12", b"1234 678901"])
def test_long_numbers_read_as_two_words(value: bytes) -> None:
    """An 11-digit field is read as 3 + 8 bytes: blanks, signs and padding in either part."""
    layout = LAYOUTS["H1"]
    raw = bytearray(build_record("H1", race_id="2024060105030111"))
    start = next(item.pos - 1 for item in layout.items if item.name == "win_total_votes")
    raw[start:start + 11] = value
    _assert_decodes_as_reference(bytes(raw), layout)


@pytest.mark.parametrize("value", [b"00000505", b"20240230", b"2024053 ", b" 2024053", b"20241301", b"00000000",
                                   b"        ", b"\x81\x40\x81\x40\x81\x40\x81\x40"])
def test_dates_the_way_the_reference_reads_them(value: bytes) -> None:
    """Year 0, 30 February, a 7-digit date strptime still reads, blanks."""
    layout = LAYOUTS["CH"]
    raw = bytearray(build_record("CH", trainer_code="01234", data_creation_date="2024-05-30"))
    raw[17:25] = value  # license_issue_date
    _assert_decodes_as_reference(bytes(raw), layout)


_DOUBLE_BYTE_PIECES = ["\u3000".encode("cp932")] * 4 + [c.encode("cp932") for c in "アイ馬名ー・Ａ０Α"] + [
    b"\x81\x7f", b"\x82\xf2", b"\x40\x81", b"  ", b"\xb1\xb2", b"\x81\x0a"]  # no pair, undefined, odd, spaces, ｱｲ


@settings(max_examples=200, deadline=None)
@given(width=st.sampled_from([2, 4, 8, 36, 60]), data=st.data())
def test_double_byte_text_decodes_as_the_codec(width: int, data: st.DataObject) -> None:
    """Full-width text columns (names padded with U+3000) are decoded by table, without the codec:
    the same strings, or the same error, as decoding value by value; a column with anything that
    is not one 3-byte UTF-8 character (Greek Α is 2, a half-width kana, spaces) takes the codec."""
    pieces = st.lists(st.sampled_from(_DOUBLE_BYTE_PIECES if data.draw(st.booleans()) else _DOUBLE_BYTE_PIECES[:11]),
                      max_size=width // 2)
    values = [(b"".join(parts) + b"\x81\x40" * width)[:width] for parts in data.draw(st.lists(pieces, min_size=1,
                                                                                              max_size=6))]
    view = np.frombuffer(b"".join(values), np.uint8).reshape(len(values), width)
    try:
        expected = [v.decode("cp932").strip(" \u3000") for v in values]
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            text(view)
        return
    assert text(view).to_pylist() == expected
