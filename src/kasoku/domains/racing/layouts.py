"""Every JV-Data record layout, by record type: the registry the parser and builder use.

The tables themselves are data in ``tables_race``, ``tables_master`` and ``tables_ck``
(vocabulary in ``fields``). Here each table gets the common header (and the race key
for race-keyed types) and is checked for order, overlaps and bounds at import, so a
typo fails loudly instead of mis-slicing.

Public: ``Field``, ``Group``, ``Layout`` (re-exported), ``HEADER``, ``RACE_KEY``,
``RACE_KEY_SLICE``, ``LAYOUTS`` (current layouts by record type, 38 types),
``LEGACY_LAYOUTS`` (the older ``V4802`` layouts by (type, length)), ``RACE_KEYED``,
``layout_for_length``.
"""

from __future__ import annotations

from dataclasses import replace

from kasoku.domains.racing import tables_ck as ck
from kasoku.domains.racing import tables_master as master
from kasoku.domains.racing import tables_race as race
from kasoku.domains.racing.fields import HEADER, RACE_KEY, RACE_KEY_SLICE, Field, Group, Layout

__all__ = ["HEADER", "LAYOUTS", "LEGACY_LAYOUTS", "RACE_KEY", "RACE_KEYED", "RACE_KEY_SLICE", "Field", "Group",
           "Layout", "layout_for_length"]

# Bytes 12-27 hold the race key YYYYMMDDJJKKHHRR (the documents' "common block: pos 1-27").
RACE_KEYED: frozenset[str] = frozenset({
    "RA", "SE", "HR", "H1", "H6", "O1", "O2", "O3", "O4", "O5", "O6", "WH", "JG", "AV", "CC", "CK", "DM",
    "JC", "TC", "TK", "TM"})

_CURRENT = (
    race.RA, race.SE, race.HR, race.H1, race.H6, race.O1, race.O2, race.O3, race.O4, race.O5, race.O6,
    race.WH, race.WF, race.JG, race.DM, race.TM, race.AV, race.CC, race.JC, race.TC, race.WE,
    master.UM, master.KS, master.CH, master.BN, master.BR, master.BT, master.HN, master.SK, master.HS,
    master.HY, master.RC, master.CS, master.YS, master.TK, master.HC, master.WC, ck.CK,
)
_LEGACY = (master.UM_V4802, master.BR_V4802, master.BT_V4802, master.HN_V4802, master.SK_V4802,
           master.HS_V4802, ck.CK_V4802)


def _with_header(layout: Layout) -> Layout:
    """Prefix the common header (and the race key for race-keyed types), then check the table."""
    key = RACE_KEY if layout.record_type in RACE_KEYED else ()
    full = replace(layout, items=HEADER + key + layout.items)
    _check(full)
    return full


def _check(layout: Layout) -> None:
    """Fields must be in order, must not overlap, and must end before the CR LF."""
    end = 0
    for item in layout.items:
        if item.pos <= end:
            raise ValueError(f"{layout.record_type}: {item.name} at {item.pos} overlaps byte {end}")
        end = item.pos + item.size - 1
        if isinstance(item, Group):
            sub_end = 0
            for f in item.fields:
                if f.pos <= sub_end:
                    raise ValueError(f"{layout.record_type}.{item.name}.{f.name} overlaps")
                sub_end = f.pos + f.size - 1
            if sub_end > item.width:
                raise ValueError(f"{layout.record_type}.{item.name} sub-fields exceed {item.width} bytes")
    if end > layout.length - 2:
        raise ValueError(f"{layout.record_type}: fields end at {end}, record is {layout.length} incl. CRLF")


LAYOUTS: dict[str, Layout] = {lay.record_type: _with_header(lay) for lay in _CURRENT}
LEGACY_LAYOUTS: dict[tuple[str, int], Layout] = {(lay.record_type, lay.length): _with_header(lay)
                                                 for lay in _LEGACY}
_BY_LENGTH: dict[tuple[str, int], Layout] = {
    **{(t, lay.length): lay for t, lay in LAYOUTS.items()}, **LEGACY_LAYOUTS}


def layout_for_length(record_type: str, length: int) -> Layout | None:
    """The layout of ``record_type`` whose length (CR LF included) is ``length``; every pair of
    current and legacy layouts differs in length, so the length alone tells them apart."""
    return _BY_LENGTH.get((record_type, length))
