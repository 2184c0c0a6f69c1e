"""The layout tables against the layout documents themselves: every documented row (and
every sub-field of every repeated group) sits at the same position with the same length,
count and element size, and scaled or dated rows get the kind the document gives them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS, RACE_KEYED, Field, Group, Layout
from tests.samples.paths import reference_doc

_SECTION = re.compile(r"^## (\w+) — .+? — record_length (\d+) bytes")
_ARRAY = re.compile(r"array (\d+) x (\d+)B")
_SUB = re.compile(r"\+(\d+)/(\d+) (\w+)(?: \(([^)]*)\))?")


@dataclass
class Row:
    pos: int
    length: int
    name: str
    notes: str


@dataclass
class Section:
    name: str
    length: int
    rows: list[Row] = field(default_factory=list)
    inherits: str | None = None
    race_keyed: bool = False


def _parse(text: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    current: Section | None = None
    for line in text.split("\n# Appendix")[0].splitlines():
        m = _SECTION.match(line)
        if m:
            current = sections[m.group(1)] = Section(m.group(1), int(m.group(2)))
            continue
        if line.startswith(("## ", "# ")):
            current = None
        if current is None:
            continue
        if line.startswith("inherits: "):
            current.inherits = line.split()[1]
        if "common block: pos 1-27" in line or "common block: ../_common_race_fields" in line:
            current.race_keyed = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| ") else []
        if len(cells) >= 6 and cells[1].isdigit():
            current.rows.append(Row(int(cells[1]), int(cells[2]), cells[3], "|".join(cells[5:])))
    return sections


@pytest.fixture(scope="module")
def documented() -> dict[str, Section]:
    sections = {**_parse(reference_doc("jvdata-layouts.md").read_text(encoding="utf-8")),
                **_parse(reference_doc("jvdata-layouts-more.md").read_text(encoding="utf-8"))}
    for section in sections.values():  # CK_V4802 documents only the rows that differ from CK
        if section.inherits:
            parent = sections[section.inherits]
            changed = {r.name for r in section.rows}
            section.rows = sorted([r for r in parent.rows if r.name not in changed] + section.rows,
                                  key=lambda r: r.pos)
            section.race_keyed = parent.race_keyed
    return sections


def _ours(name: str) -> Layout:
    rtype, _, variant = name.partition("_")
    if not variant:
        return LAYOUTS[rtype]
    return next(lay for (t, _), lay in LEGACY_LAYOUTS.items() if t == rtype and lay.variant == variant)


def test_every_documented_layout_is_ours_and_no_other(documented: dict[str, Section]) -> None:
    ours = set(LAYOUTS) | {f"{t}_{lay.variant}" for (t, _), lay in LEGACY_LAYOUTS.items()}
    assert set(documented) == ours
    assert len(documented) == 45


def _kind_ok(f: Field, notes: str) -> bool:
    """The document's hints that decide a value's shape: scale, date and time formats."""
    if "yyyymmdd" in notes:
        return f.kind == "date"
    if re.search(r"(^|[^d])hhmm", notes):
        return f.kind == "clock"
    if "m ss hh" in notes:
        return f.kind == "racetime100"
    if "ss hh" in notes:
        return f.kind == "scaled" and f.scale == 100
    if "m ss s" in notes:
        return f.kind == "racetime"
    if re.search(r"x1/10|scale 1/10|unit 0\.1", notes):
        return (f.kind == "scaled" and f.scale == 10) or f.kind == "racetime"
    if "unit 100" in notes or "unit meters" in notes or "unit kg" in notes or "unit yen" in notes:
        return f.kind == "int"
    return True


def _check_group(where: str, item: Group, row: Row) -> None:
    array = _ARRAY.search(row.notes)
    assert array is not None, where
    assert (item.count, item.width) == (int(array.group(1)), int(array.group(2))), where
    documented = [(int(o), int(n), s, extra or "") for o, n, s, extra in _SUB.findall(row.notes)]
    assert [(f.pos - 1, f.size, f.name) for f in item.fields] == [d[:3] for d in documented], where
    for f, (_, _, name, extra) in zip(item.fields, documented, strict=True):
        nested = _ARRAY.search(f"array {extra}") if re.match(r"\d+ x \d+B", extra) else None
        if nested:
            assert (f.count, f.length) == (int(nested.group(1)), int(nested.group(2))), f"{where}.{name}"
        assert _kind_ok(f, extra), f"{where}.{name}: {f.kind}/{f.scale} vs '{extra}'"


@pytest.mark.parametrize("name", sorted([*LAYOUTS, *(f"{t}_{lay.variant}" for (t, _), lay in LEGACY_LAYOUTS.items())]))
def test_table_matches_the_document(name: str, documented: dict[str, Section]) -> None:
    section = documented[name]
    layout = _ours(name)
    assert layout.length == section.length, name
    assert (layout.record_type in RACE_KEYED) == section.race_keyed, name
    items = {item.name: item for item in layout.items}
    rows = [r for r in section.rows if not r.name.startswith("reserved")]
    assert len(rows) >= 2, f"{name}: table rows not recognised"
    for row in rows:
        where = f"{name}.{row.name}"
        item = items.get(row.name)
        assert item is not None, f"{where} is documented but not in the table"
        assert (item.pos, item.size) == (row.pos, row.length), where
        if isinstance(item, Group):
            _check_group(where, item, row)
            continue
        array = _ARRAY.search(row.notes)
        if array is None:
            assert item.count == 1, where
        else:
            assert (item.count, item.length) == tuple(map(int, array.groups())), where
        assert _kind_ok(item, row.notes), f"{where}: {item.kind}/{item.scale} vs '{row.notes}'"
    documented_names = {r.name for r in section.rows}
    header = {"record_type", "data_code", "data_creation_date"}
    key = {"meet_year", "meet_date", "racecourse_code", "meet_round", "meet_day", "race_number"}
    extra = set(items) - documented_names - header - (key if section.race_keyed else set())
    assert not extra, f"{name}: fields not in the document: {sorted(extra)}"
