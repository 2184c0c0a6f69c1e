"""Full records of every JV-Data layout for the decode benchmark: every field and every slot
of every repeated group filled (the worst case for a decoder: an O6 with all 4,896 trifecta
odds of an 18-horse race), built by the real builder from a seeded ``random.Random``."""

from __future__ import annotations

import random
from typing import Any

from kasoku.domains.racing.builder import build_record
from kasoku.domains.racing.layouts import RACE_KEY, RACE_KEYED, Field, Group, Layout

_KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロワン"
_KEY_PARTS = {f.name for f in RACE_KEY}


def _value(f: Field, rng: random.Random) -> Any:
    if f.kind == "int":
        return rng.randint(1, 10 ** min(f.length, 9) - 1)
    if f.kind == "scaled":
        return rng.randint(1, 10 ** min(f.length, 9) - 1) / f.scale
    if f.kind == "racetime":
        return rng.randint(600, 1500) / 10
    if f.kind == "racetime100":
        return rng.randint(6000, 15000) / 100
    if f.kind == "date":
        return f"20{rng.randint(10, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if f.kind == "clock":
        return f"{rng.randint(9, 16):02d}:{rng.randint(0, 59):02d}"
    if f.kind == "code":
        return "".join(rng.choice("0123456789") for _ in range(f.length))
    if f.full:
        return "".join(rng.choice(_KANA) for _ in range(rng.randint(1, max(1, f.length // 2))))
    return "".join(rng.choice("ABCDEFGH ") for _ in range(rng.randint(1, f.length))).strip() or "A"


def _field(f: Field, rng: random.Random) -> Any:
    return _value(f, rng) if f.count == 1 else [_value(f, rng) for _ in range(f.count)]


def full_record(layout: Layout, rng: random.Random) -> bytes:
    fields: dict[str, Any] = {}
    for item in layout.items:
        if item.name == "record_type" or (layout.record_type in RACE_KEYED and item.name in _KEY_PARTS):
            continue
        if isinstance(item, Group):
            fields[item.name] = [{f.name: _field(f, rng) for f in item.fields} for _ in range(item.count)]
        else:
            fields[item.name] = _field(item, rng)
    if layout.record_type in RACE_KEYED:
        fields["race_id"] = f"2024060105030{rng.randint(1, 9)}{rng.randint(1, 12):02d}"
    if layout.variant:
        fields["_layout"] = layout.variant
    return build_record(layout.record_type, **fields)
