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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasoku.domains.racing.builder import build_record
from kasoku.domains.racing.columnar import decode_table
from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS, RACE_KEYED, Group, Layout
from kasoku.domains.racing.records import RecordError, decode_fields

_ALL = [*LAYOUTS.values(), *LEGACY_LAYOUTS.values()]
# The header and the race key stay intact: both decoders check those the same way, elsewhere.
_HEADER, _RACE_KEY_END = 11, 27

_PIECES = [b" ", b"0", "\u3000".encode("cp932"), b"1", b"9", b"-", b"*", b"+", b"@", b"\x81", b"_",
           "馬".encode("cp932"), "ア".encode("cp932"), "ｱ".encode("cp932"), b"A", b"\n"]


def _regions(layout: Layout) -> list[tuple[int, int]]:
    """(start, length) of every field, group slot and sub-field past the race key (0-based)."""
    out = []
    first = _RACE_KEY_END if layout.record_type in RACE_KEYED else _HEADER
    for item in layout.items:
        start = item.pos - 1
        if start < first:
            continue
        if isinstance(item, Group):
            for n in range(item.count):
                slot = start + n * item.width
                out.append((slot, item.width))
                out.extend((slot + f.pos - 1, f.size) for f in item.fields)
        else:
            out.append((start, item.size))
    return out


def _fill(length: int) -> st.SearchStrategy[bytes]:
    digits = st.integers(0, 10 ** min(length, 18) - 1).map(lambda n: str(n).zfill(length).encode())
    padded = st.integers(0, 10 ** min(length, 18) - 1).map(lambda n: str(n).rjust(length).encode())
    text = st.text("馬名東京アイウｱｲ AZ09・ー", max_size=length).map(
        lambda s: s.encode("cp932")[:length].ljust(length, b" "))
    kana = st.text("アイウ競走", max_size=length // 2).map(
        lambda s: (s.encode("cp932") + "\u3000".encode("cp932") * length)[:length])
    pieces = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=length).map(
        lambda parts: (b"".join(parts) * length)[:length])
    return st.one_of(digits, padded, text, kana, pieces, st.just(b" " * length), st.just(b"0" * length))


@st.composite
def _records(draw: st.DrawFn, layout: Layout) -> bytes:
    fields: dict[str, Any] = {"race_id": "2024060105030111"} if layout.record_type in RACE_KEYED else {}
    if layout.variant:
        fields["_layout"] = layout.variant
    raw = bytearray(build_record(layout.record_type, **fields))
    regions = _regions(layout)
    for _ in range(draw(st.integers(1, 12))):
        start, length = draw(st.sampled_from(regions))
        raw[start:start + length] = draw(_fill(length))
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
