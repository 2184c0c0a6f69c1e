"""Build valid fixed-width JV-Data records, the inverse of ``records.parse_record``.

Tests and the demo make realistic records with this instead of copying real ones
(the samples' licence and the rule in their README forbid that).

Public API:
    build_record(record_type: str, /, **fields: Any) -> bytes
    build_race(race_id, name="", distance=0, *, post_time=None, track_code="", grade_code="",
               num_entries=0, data_code="7", **fields) -> bytes   # RA
    build_entry(race_id, horse_number, horse_name, *, jockey_code="", jockey_name="",
                trainer_code="", trainer_name="", data_code="7", **fields) -> bytes   # SE
    build_win_odds(race_id, odds: Mapping[int, float], **fields) -> bytes   # O1
    build_quinella_odds(race_id, odds: Mapping[tuple[int, int], float], **fields) -> bytes   # O2
    build_weights(race_id, weights: Mapping[int, int], *, changes=None, names=None, **fields) -> bytes   # WH
    build_schedule(meet_key, *, graded_races=(), **fields) -> bytes   # YS
    build_horse(pedigree_reg_num, name, *, data_creation_date, **fields) -> bytes   # UM
    build_jockey(jockey_code, name, *, data_creation_date, **fields) -> bytes   # KS
    build_trainer(trainer_code, name, *, data_creation_date, **fields) -> bytes   # CH
    build_payout(race_id, *, win=None, place=None, quinella=None, ..., **fields) -> bytes   # HR

``build_record`` takes the parser's field names and value shapes: ints, floats for
scaled fields (odds 3.2 -> '0032'), seconds for race times (83.4 -> '1234'),
'YYYY-MM-DD' dates, 'HH:MM' clock times, lists for repeated fields and lists of
dicts for sub-records; ``race_id`` fills the race-key parts. Fields not given are
zeros (numbers, dates) or padding (text: U+3000 for full-width, spaces otherwise);
``None`` for a number writes spaces, which the parser reads back as None.
``_layout='V4802'`` (as the parser reports an older layout) builds the legacy layout.
Race and meet builders default ``data_creation_date`` to the race date; master
builders require it, so that ``creation_date_of`` works on everything they make.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS, RACE_KEY, RACE_KEYED, Field, Group, Layout
from kasoku.domains.racing.records import CRLF, ENCODING, RecordError

_NOT_GIVEN = object()


def build_record(record_type: str, /, **fields: Any) -> bytes:
    """A record of ``record_type`` with exactly its declared length, CR LF included."""
    given = dict(fields)
    layout = _layout(record_type, given.pop("_layout", ""))
    if given.pop("record_type", record_type) != record_type:
        raise RecordError(f"record_type field disagrees with {record_type!r}", record_type=record_type)
    race_id = given.pop("race_id", None)
    if race_id is not None:
        given.update(_split_race_id(record_type, race_id))
    names = {item.name for item in layout.items}
    unknown = sorted(set(given) - names)
    if unknown:
        raise RecordError(f"{record_type} has no field(s) {', '.join(unknown)}", record_type=record_type)
    buf = bytearray(b" " * (layout.length - 2))
    for item in layout.items:
        value = record_type if item.name == "record_type" else given.get(item.name, _NOT_GIVEN)
        chunk = (_encode_group(layout, item, value) if isinstance(item, Group)
                 else _encode_field(layout, item, value))
        buf[item.pos - 1:item.pos - 1 + item.size] = chunk
    return bytes(buf) + CRLF


def _layout(record_type: str, variant: str) -> Layout:
    """The current layout, or with ``_layout='V4802'`` (as the parser reports it) the older one."""
    current = LAYOUTS.get(record_type)
    if current is None:
        raise RecordError(f"no layout to build a {record_type!r} record (known: {', '.join(sorted(LAYOUTS))})",
                          record_type=record_type)
    if not variant:
        return current
    for (rtype, _), legacy in LEGACY_LAYOUTS.items():
        if rtype == record_type and legacy.variant == variant:
            return legacy
    raise RecordError(f"{record_type} has no {variant!r} layout", record_type=record_type)


def _split_race_id(record_type: str, race_id: str) -> dict[str, str]:
    if record_type not in RACE_KEYED:
        raise RecordError(f"{record_type} is not race-keyed; race_id does not apply", record_type=record_type)
    if len(race_id) != 16 or not race_id.isdigit():
        raise RecordError(f"race_id {race_id!r} is not 16 digits YYYYMMDDJJKKHHRR", record_type=record_type)
    parts, start = {}, 0
    for f in RACE_KEY:
        parts[f.name] = race_id[start:start + f.length]
        start += f.length
    return parts


def _encode_group(layout: Layout, group: Group, rows: Any) -> bytes:
    rows = [] if rows is _NOT_GIVEN or rows is None else list(rows)
    if len(rows) > group.count:
        raise RecordError(f"{layout.record_type}.{group.name}: {len(rows)} entries, room for {group.count}",
                          record_type=layout.record_type)
    names = {f.name for f in group.fields}
    out = bytearray()
    for given in rows:
        row = dict(given)
        unknown = set(row) - names
        if unknown:
            raise RecordError(f"{layout.record_type}.{group.name} has no field(s) {', '.join(sorted(unknown))}",
                              record_type=layout.record_type)
        out += _encode_slot(layout, group, row)
    # Unused slots are all alike (every field not given): encode one, repeat it.
    return bytes(out) + _encode_slot(layout, group, {}) * (group.count - len(rows))


def _encode_slot(layout: Layout, group: Group, row: dict[str, Any]) -> bytes:
    slot = bytearray(b" " * group.width)
    for f in group.fields:
        slot[f.pos - 1:f.pos - 1 + f.size] = _encode_field(layout, f, row.get(f.name, _NOT_GIVEN))
    return bytes(slot)


def _encode_field(layout: Layout, f: Field, value: Any) -> bytes:
    if f.count == 1:
        return _encode_value(layout, f, value)
    values = [] if value is _NOT_GIVEN or value is None else list(value)
    if len(values) > f.count:
        raise RecordError(f"{layout.record_type}.{f.name}: {len(values)} values, room for {f.count}",
                          record_type=layout.record_type)
    values += [_NOT_GIVEN] * (f.count - len(values))
    return b"".join(_encode_value(layout, f, v) for v in values)


def _encode_value(layout: Layout, f: Field, value: Any) -> bytes:
    width = f.length
    if f.kind in ("text", "code"):
        text = "" if value is _NOT_GIVEN or value is None else str(value)
        return _pad(layout, f, text.encode(ENCODING), full=f.full)
    if f.kind in ("date", "clock"):
        if value is _NOT_GIVEN or value is None:
            return b"0" * width
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        digits = text.replace("-", "") if f.kind == "date" else text.replace(":", "")
        if len(digits) != width or not digits.isdigit():
            raise RecordError(f"{layout.record_type}.{f.name}: cannot write {value!r} as a {f.kind}",
                              record_type=layout.record_type)
        return digits.encode("ascii")
    if value is _NOT_GIVEN:
        return b"0" * width
    if value is None:
        return b" " * width
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{layout.record_type}.{f.name}: {value!r} is not a number",
                          record_type=layout.record_type)
    if f.kind == "int" and not isinstance(value, int):
        raise RecordError(f"{layout.record_type}.{f.name}: {value!r} is not an int", record_type=layout.record_type)
    if f.kind == "racetime":
        tenths = round(abs(value) * 10)
        minutes, rest = divmod(tenths, 600)
        number = minutes * 1000 + rest
    elif f.kind == "racetime100":
        hundredths = round(abs(value) * 100)
        minutes, rest = divmod(hundredths, 6000)
        number = minutes * 10000 + rest
    else:
        number = round(abs(value) * f.scale) if f.kind == "scaled" else int(abs(value))
    digits = str(number)
    if value < 0:
        digits = "-" + digits.zfill(width - 1)
    encoded = digits.zfill(width).encode("ascii")
    if len(encoded) > width:
        raise RecordError(f"{layout.record_type}.{f.name}: {value!r} does not fit in {width} bytes",
                          record_type=layout.record_type)
    return encoded


def _pad(layout: Layout, f: Field, data: bytes, *, full: bool) -> bytes:
    if len(data) > f.length:
        raise RecordError(f"{layout.record_type}.{f.name}: {len(data)} bytes in cp932, room for {f.length}",
                          record_type=layout.record_type)
    free = f.length - len(data)
    if full:
        return data + "\u3000".encode(ENCODING) * (free // 2) + b" " * (free % 2)
    return data + b" " * free


def _race_date(race_id: str) -> str:
    return f"{race_id[:4]}-{race_id[4:6]}-{race_id[6:8]}"


def _ranks(odds: Mapping[Any, float | None]) -> dict[Any, int]:
    """Popularity = rank by ascending odds (1 = favourite); horses without odds get none."""
    priced = sorted((v, k) for k, v in odds.items() if v is not None)
    return {k: n for n, (_, k) in enumerate(priced, start=1)}


def _common(race_id: str, data_code: str, fields: dict[str, Any]) -> dict[str, Any]:
    fields.setdefault("data_creation_date", _race_date(race_id))
    return {"race_id": race_id, "data_code": data_code, **fields}


def build_race(race_id: str, name: str = "", distance: int = 0, *, post_time: str | None = None,
               track_code: str = "", grade_code: str = "", num_entries: int = 0, data_code: str = "7",
               **fields: Any) -> bytes:
    """RA: a race with its name, distance (m), post time 'HH:MM'; data_code 7 = final results."""
    return build_record("RA", **_common(race_id, data_code, fields), race_name_main=name, distance=distance,
                        post_time=post_time, track_code=track_code, grade_code=grade_code,
                        num_entries=num_entries)


def build_entry(race_id: str, horse_number: int, horse_name: str, *, jockey_code: str = "",
                jockey_name: str = "", trainer_code: str = "", trainer_name: str = "",
                data_code: str = "7", **fields: Any) -> bytes:
    """SE: one horse in a race. Jockey/trainer names go to the 8-byte short-name fields (4 kanji)."""
    fields.setdefault("bracket_number", 0)
    return build_record("SE", **_common(race_id, data_code, fields), horse_number=horse_number,
                        horse_name=horse_name, jockey_code=jockey_code, jockey_short_name=jockey_name,
                        trainer_code=trainer_code, trainer_short_name=trainer_name)


def build_win_odds(race_id: str, odds: Mapping[int, float | None], *, data_code: str = "1",
                   **fields: Any) -> bytes:
    """O1: win odds per horse number (None = no odds); popularity ranked by odds."""
    ranks = _ranks(odds)
    rows = [{"horse_number": h, "odds": o, "popularity_rank": ranks.get(h, 0)} for h, o in sorted(odds.items())]
    fields.setdefault("num_entries", len(odds))
    fields.setdefault("num_starters", len(odds))
    return build_record("O1", **_common(race_id, data_code, fields), win_odds=rows)


def build_quinella_odds(race_id: str, odds: Mapping[tuple[int, int], float | None], *, data_code: str = "1",
                        **fields: Any) -> bytes:
    """O2: quinella odds per unordered pair of horse numbers; written as 'AABB' with A < B."""
    pairs = {tuple(sorted(pair)): o for pair, o in odds.items()}
    ranks = _ranks(pairs)
    rows = [{"combination": f"{a:02d}{b:02d}", "odds": o, "popularity_rank": ranks.get((a, b), 0)}
            for (a, b), o in sorted(pairs.items())]
    return build_record("O2", **_common(race_id, data_code, fields), quinella_odds=rows)


def build_weights(race_id: str, weights: Mapping[int, int], *, changes: Mapping[int, int] | None = None,
                  names: Mapping[int, str] | None = None, data_code: str = "1", **fields: Any) -> bytes:
    """WH: body weight (kg) per horse number, with the signed change since the last race."""
    rows = []
    for horse, kg in sorted(weights.items()):
        change = (changes or {}).get(horse, 0)
        rows.append({"horse_number": horse, "horse_name": (names or {}).get(horse, ""), "horse_weight": kg,
                     "weight_change_sign": "-" if change < 0 else "+" if change > 0 else "",
                     "weight_change_diff": abs(change)})
    return build_record("WH", **_common(race_id, data_code, fields), horse_weight_infos=rows)


def build_schedule(meet_key: str, *, graded_races: Sequence[Mapping[str, Any]] = (), data_code: str = "1",
                   **fields: Any) -> bytes:
    """YS: a meet day; ``meet_key`` is YYYYMMDDJJKKHH (a race_id without the race number)."""
    if len(meet_key) != 14 or not meet_key.isdigit():
        raise RecordError(f"meet_key {meet_key!r} is not 14 digits YYYYMMDDJJKKHH", record_type="YS")
    parts = _split_race_id("RA", meet_key + "00")
    del parts["race_number"]
    fields.setdefault("data_creation_date", _race_date(meet_key))
    return build_record("YS", data_code=data_code, **parts, graded_race_guide=list(graded_races), **fields)


def build_horse(pedigree_reg_num: str, name: str, *, data_creation_date: str | dt.date, data_code: str = "1",
                **fields: Any) -> bytes:
    """UM: a horse master record (masters have no race date, so the creation date is required)."""
    return build_record("UM", data_code=data_code, data_creation_date=data_creation_date,
                        pedigree_reg_num=pedigree_reg_num, horse_name=name, **fields)


def build_jockey(jockey_code: str, name: str, *, data_creation_date: str | dt.date, data_code: str = "1",
                 **fields: Any) -> bytes:
    """KS: a jockey master record."""
    return build_record("KS", data_code=data_code, data_creation_date=data_creation_date, jockey_code=jockey_code,
                        jockey_name=name, **fields)


def build_trainer(trainer_code: str, name: str, *, data_creation_date: str | dt.date, data_code: str = "1",
                  **fields: Any) -> bytes:
    """CH: a trainer master record."""
    return build_record("CH", data_code=data_code, data_creation_date=data_creation_date, trainer_code=trainer_code,
                        trainer_name=name, **fields)


Payouts = Mapping[Any, int]  # number (int) or tuple of numbers -> yen per 100-yen ticket


def build_payout(race_id: str, *, win: Payouts | None = None, place: Payouts | None = None,
                 bracket_quinella: Payouts | None = None, quinella: Payouts | None = None,
                 wide: Payouts | None = None, exacta: Payouts | None = None, trio: Payouts | None = None,
                 trifecta: Payouts | None = None, data_code: str = "7", **fields: Any) -> bytes:
    """HR: payouts per bet type, keyed by horse number or a tuple of numbers (in the bet's order)."""
    bets = {"win": win, "place": place, "bracket_quinella": bracket_quinella, "quinella": quinella,
            "wide": wide, "exacta": exacta, "trio": trio, "trifecta": trifecta}
    for bet, payouts in bets.items():
        if not payouts:
            continue
        rows = []
        for numbers, yen in payouts.items():
            seq = numbers if isinstance(numbers, tuple) else (numbers,)
            width = 1 if bet == "bracket_quinella" else 2  # brackets are 1-8, horse numbers 01-18
            rows.append({"number": "".join(f"{n:0{width}d}" for n in seq), "payout": yen})
        fields[f"{bet}_payback"] = rows
    return build_record("HR", **_common(race_id, data_code, fields))
