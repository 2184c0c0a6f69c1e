"""The vocabulary of JV-Data layout tables: fields, repeated groups, layouts.

A table is data: each row is (name, 1-based byte position, length, kind, scale,
repeat), written with the short constructors below so that one row reads like one
row of ``shared/reference/jvdata-layouts*.md``. Kinds decide how ``records`` decodes
a slice and how ``builder`` encodes a value:

- ``int``          zero-padded digits (an optional leading sign) -> int
- ``scaled``       digits / ``scale`` -> float (odds x10, kg x10, times in 0.1 s, mining
                   error margins in 0.01 s)
- ``racetime``     ``MSSF`` (minutes, seconds, tenths) -> seconds as float
- ``racetime100``  ``MSSHH`` (minutes, seconds, hundredths) -> seconds as float
- ``text``         cp932 text, trimmed of ASCII and full-width (U+3000) padding at both
                   ends; ``full=True`` fields are padded with U+3000 by the builder
- ``code``         kept as a string, zero padding preserved ('01')
- ``date``         ``YYYYMMDD`` -> ``YYYY-MM-DD``
- ``clock``        ``hhmm`` -> ``HH:MM``

Reserved (予備) ranges are simply not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["int", "scaled", "racetime", "racetime100", "text", "code", "date", "clock"]
NUMERIC_KINDS: frozenset[str] = frozenset({"int", "scaled", "racetime", "racetime100"})


@dataclass(frozen=True, slots=True)
class Field:
    """One fixed-width field; ``count > 1`` makes it a list of ``count`` elements of ``length`` bytes."""

    name: str
    pos: int  # 1-based; inside a Group, 1-based within the element
    length: int  # bytes of ONE element
    kind: Kind
    scale: int = 1
    full: bool = False  # full-width text: builder pads with U+3000
    zero_none: bool = False  # all zeros means "no value" (odds, unused laps)
    count: int = 1

    @property
    def size(self) -> int:
        return self.length * self.count


@dataclass(frozen=True, slots=True)
class Group:
    """A repeated element (``count`` x ``width`` bytes) decoded as a list of dicts."""

    name: str
    pos: int
    count: int
    width: int
    fields: tuple[Field, ...]

    @property
    def size(self) -> int:
        return self.count * self.width


@dataclass(frozen=True, slots=True)
class Layout:
    """A record type's table; ``length`` includes the trailing CR LF."""

    record_type: str
    length: int
    items: tuple[Field | Group, ...]
    variant: str = ""  # "" for the current layout, "V4802" for the older one of the legacy dataspecs


# Short constructors: one call per documented row.
def num(name: str, pos: int, length: int, *, count: int = 1) -> Field:
    return Field(name, pos, length, "int", count=count)


def dec(name: str, pos: int, length: int, scale: int = 10, *, zero_none: bool = False, count: int = 1) -> Field:
    return Field(name, pos, length, "scaled", scale=scale, zero_none=zero_none, count=count)


def racetime(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "racetime", zero_none=True)


def racetime100(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "racetime100", zero_none=True)


def text(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "text")


def jtext(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "text", full=True)


def code(name: str, pos: int, length: int, *, count: int = 1) -> Field:
    return Field(name, pos, length, "code", count=count)


def date(name: str, pos: int) -> Field:
    return Field(name, pos, 8, "date")


def clock(name: str, pos: int) -> Field:
    return Field(name, pos, 4, "clock")


def sub(off: int, f: Field) -> tuple[int, Field]:
    """A group's sub-field at the doc's 0-based ``+offset``."""
    return (off, f)


def group(name: str, pos: int, total: int, count: int, width: int, *subs: tuple[int, Field]) -> Group:
    """Group from the doc's ``array N x WB: +off/len name`` notation."""
    if count * width != total:
        raise ValueError(f"{name}: {count} x {width} != {total}")
    return Group(name, pos, count, width, tuple(replace(f, pos=off + 1) for off, f in subs))


HEADER: tuple[Field, ...] = (code("record_type", 1, 2), code("data_code", 3, 1), date("data_creation_date", 4))
RACE_KEY: tuple[Field, ...] = (
    code("meet_year", 12, 4), code("meet_date", 16, 4), code("racecourse_code", 20, 2),
    code("meet_round", 22, 2), code("meet_day", 24, 2), code("race_number", 26, 2),
)
RACE_KEY_SLICE = slice(11, 27)
