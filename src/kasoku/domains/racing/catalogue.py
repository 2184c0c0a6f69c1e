"""The JV-Link dataspec catalogue: which records each dataspec delivers, which
arguments JV-Link accepts for it, and how long its answers may be cached.

Both upstream clients validate through this module, so the lake's replay and the
real COM component reject the same requests with the same JV-Link return codes
(-111 dataspec, -112/-113 fromtime, -114 realtime key, -115 option, -116
dataspec/option combination); see JRA-VAN's JV-Link specification (JV-Link インターフェース仕様書)
and JV-Data 仕様書, published in the JRA-VAN SDK (https://jra-van.jp/dlb/sdv/sdk.html).

TTLs follow the original racing service's ``_get_optimal_ttl`` table (its intent, not its labels:
it calls 0B12/0B15 "odds" and 0B30 "race results", which is wrong, but the
TTL values are kept). Its L1 is one ``TTLCache(ttl=300)`` in front of
Redis, so the per-dataspec TTL is the L2 TTL and L1 is capped at five minutes.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Literal

from kasoku.errors import InvalidParameter

__all__ = [
    "DATASPECS", "RECORD_LENGTHS", "DataSpec", "get_dataspec", "realtime_key_kind",
    "stored_dataspec_for_record_type", "default_dataspec_for_record_type",
    "validate_fromtime", "validate_option", "validate_realtime_key",
]

L1_TTL_CAP = 300.0
_DEFAULT_TTL = 600.0
# The original racing service's TTLs, in seconds (L2). Anything not listed: 10 minutes.
_SEED_TTL: dict[str, float] = {
    "HOSE": 86400.0, "HOYU": 86400.0, "YSCH": 604800.0, "RACE": 86400.0,
    "0B12": 60.0, "0B15": 60.0, "0B30": 300.0,
    "DIFF": 300.0, "SLOP": 1800.0, "MING": 3600.0,
}

# Option -> stored dataspecs JV-Link accepts with it (jvdata-layouts.md Appendix A;
# JVLinkServer's list for option 1, which includes COMM and MING).
_OPTION_1_3_4 = frozenset({"TOKU", "RACE", "DIFF", "BLOD", "SNAP", "SLOP", "WOOD", "YSCH", "HOSE",
                           "HOYU", "COMM", "MING", "DIFN", "BLDN", "SNPN", "HOSN"})
_OPTION_2 = frozenset({"TOKU", "RACE", "TCOV", "RCOV", "SNAP", "TCVN", "RCVN", "SNPN"})
VALID_OPTIONS = (1, 2, 3, 4)
# "start-end" ranges are refused for these (JV-Link returns -113 for the end).
_NO_RANGE = frozenset({"TOKU", "DIFF", "DIFN", "HOSE", "HOSN", "HOYU", "COMM"})

_RACE = ("RA", "SE", "HR", "H1", "H6", "O1", "O2", "O3", "O4", "O5", "O6", "WF", "JG")
_MASTERS = ("UM", "KS", "CH", "BR", "BN", "RC", "RA", "SE")

KeyKind = Literal["date", "race"]
_DATE_OR_RACE: frozenset[str] = frozenset({"date", "race"})
_DATE_ONLY: frozenset[str] = frozenset({"date"})
_RACE_ONLY: frozenset[str] = frozenset({"race"})


@dataclass(frozen=True)
class DataSpec:
    """One JV-Link dataspec. ``options`` is empty for realtime specs (JVRTOpen has none)."""

    name: str
    kind: Literal["stored", "realtime"]
    record_types: tuple[str, ...]
    allows_range: bool
    options: frozenset[int]
    ttl_l1: float
    ttl_l2: float
    description: str
    key_kinds: frozenset[str] = frozenset()  # realtime only: "date" and/or "race"


def _ttls(name: str) -> tuple[float, float]:
    l2 = _SEED_TTL.get(name, _DEFAULT_TTL)
    return min(l2, L1_TTL_CAP), l2


def _stored(name: str, records: tuple[str, ...], description: str) -> DataSpec:
    options = frozenset(o for o in VALID_OPTIONS
                        if name in (_OPTION_2 if o == 2 else _OPTION_1_3_4))
    l1, l2 = _ttls(name)
    return DataSpec(name, "stored", records, name not in _NO_RANGE, options, l1, l2, description)


def _realtime(name: str, records: tuple[str, ...], keys: frozenset[str], description: str) -> DataSpec:
    l1, l2 = _ttls(name)
    return DataSpec(name, "realtime", records, False, frozenset(), l1, l2, description, keys)


_ALL: tuple[DataSpec, ...] = (
    # stored (JVOpen) — Appendix A
    _stored("RACE", _RACE, "Race details, runners, payouts, votes and odds; staged Thu→Mon (data_code 1..7)"),
    _stored("DIFF", _MASTERS, "Accumulated masters: horse UM, jockey KS, trainer CH, breeder BR, owner BN, records RC"),
    _stored("DIFN", _MASTERS, "DIFF with the extended fields (since 2023-08-08)"),
    _stored("BLOD", ("HN", "SK", "BT"), "Pedigree: breeding horses, offspring, lineage"),
    _stored("BLDN", ("HN", "SK", "BT"), "BLOD with the extended fields"),
    _stored("SNAP", ("CK",), "Runner snapshot at entry time"),
    _stored("SNPN", ("CK",), "SNAP with the extended fields"),
    _stored("SLOP", ("HC",), "Hill (slope) training times, daily except Monday"),
    _stored("WOOD", ("WC",), "Woodchip training times"),
    _stored("YSCH", ("YS",), "Meeting schedule"),
    _stored("TOKU", ("TK",), "Special-race registrations"),
    _stored("HOSE", ("HS",), "Yearling-sale prices (not a horse master)"),
    _stored("HOSN", ("HS",), "HOSE with the extended fields"),
    _stored("HOYU", ("HY",), "Horse-name origins (not an owner master)"),
    _stored("COMM", ("CS",), "Course explanations"),
    _stored("MING", ("DM", "TM"), "Data-mining predictions (time and head-to-head)"),
    _stored("TCOV", ("UM", "CH", "BR", "BN", "RC", "RA", "SE"), "Backfill for TOKU (option 2 only)"),
    _stored("TCVN", ("UM", "CH", "BR", "BN", "RC", "RA", "SE"), "TCOV with the extended fields"),
    _stored("RCOV", ("UM", "KS", "CH", "BR", "BN", "RC", "RA", "SE", "JG"), "Backfill for race info (option 2 only)"),
    _stored("RCVN", ("UM", "KS", "CH", "BR", "BN", "RC", "RA", "SE", "JG"), "RCOV with the extended fields"),
    # realtime (JVRTOpen) — Appendix B
    _realtime("0B11", ("WH",), _DATE_OR_RACE, "Horse weights"),
    _realtime("0B12", ("RA", "SE", "HR"), _DATE_OR_RACE, "Race info after results are confirmed"),
    _realtime("0B13", ("DM",), _DATE_OR_RACE, "Time-type data-mining predictions"),
    _realtime("0B14", ("WE", "AV", "JC", "TC", "CC"), _DATE_ONLY, "Meet information (all)"),
    _realtime("0B15", ("RA", "SE", "HR"), _DATE_OR_RACE, "Race info from the entry list on"),
    _realtime("0B16", ("WE", "AV", "JC", "TC", "CC"), _DATE_OR_RACE, "Meet information (specified event)"),
    _realtime("0B17", ("TM",), _DATE_OR_RACE, "Head-to-head data-mining predictions"),
    _realtime("0B20", ("H1", "H6"), _RACE_ONLY, "Vote counts, all bet types"),
    _realtime("0B30", ("O1", "O2", "O3", "O4", "O5", "O6"), _RACE_ONLY, "All odds"),
    _realtime("0B31", ("O1",), _RACE_ONLY, "Win/place/bracket odds"),
    _realtime("0B32", ("O2",), _RACE_ONLY, "Quinella odds"),
    _realtime("0B33", ("O3",), _RACE_ONLY, "Wide odds"),
    _realtime("0B34", ("O4",), _RACE_ONLY, "Exacta odds"),
    _realtime("0B35", ("O5",), _RACE_ONLY, "Trio odds"),
    _realtime("0B36", ("O6",), _RACE_ONLY, "Trifecta odds"),
    _realtime("0B41", ("O1",), _RACE_ONLY, "Win/place/bracket odds time series (kept one year)"),
    _realtime("0B42", ("O2",), _RACE_ONLY, "Quinella odds time series (kept one year)"),
    _realtime("0B51", ("WF",), _DATE_ONLY, "WIN5"),
)
DATASPECS: dict[str, DataSpec] = {s.name: s for s in _ALL}

# Record length in bytes incl. CRLF, current layout first then the pre-4.8.0.2 one
# (checked against real JV-Data samples: tests/jvdata_samples.py says where they come from).
RECORD_LENGTHS: dict[str, frozenset[int]] = {
    "AV": frozenset({78}), "BN": frozenset({477}), "BR": frozenset({545, 537}),
    "BT": frozenset({6889, 6887}), "CC": frozenset({50}), "CH": frozenset({3862}),
    "CK": frozenset({6870, 6864}), "CS": frozenset({6829}), "DM": frozenset({303}),
    "H1": frozenset({28955}), "H6": frozenset({102890}), "HC": frozenset({60}),
    "HN": frozenset({251, 245}), "HR": frozenset({719}), "HS": frozenset({200, 196}),
    "HY": frozenset({123}), "JC": frozenset({161}), "JG": frozenset({80}),
    "KS": frozenset({4173}), "O1": frozenset({962}), "O2": frozenset({2042}),
    "O3": frozenset({2654}), "O4": frozenset({4031}), "O5": frozenset({12293}),
    "O6": frozenset({83285}), "RA": frozenset({1272}), "RC": frozenset({501}),
    "SE": frozenset({555}), "SK": frozenset({208, 178}), "TC": frozenset({45}),
    "TK": frozenset({21657}), "TM": frozenset({141}), "UM": frozenset({1609, 1577}),
    "WC": frozenset({105}), "WE": frozenset({42}), "WF": frozenset({7215}),
    "WH": frozenset({847}), "YS": frozenset({382}),
}

# Where a record type lands when an import names no dataspec: the first stored
# dataspec that delivers it (masters go to DIFF, RA/SE to RACE), else a realtime one
# for the types JVOpen never delivers (WH, WE AV JC TC CC).
_STORED_HOME: dict[str, str] = {}
for _spec in ("RACE", "DIFF", "BLOD", "SNAP", "SLOP", "WOOD", "YSCH", "TOKU", "HOSE", "HOYU",
              "COMM", "MING"):
    for _rt in DATASPECS[_spec].record_types:
        _STORED_HOME.setdefault(_rt, _spec)
_REALTIME_HOME: dict[str, str] = {"WH": "0B11", "WE": "0B14", "AV": "0B14", "JC": "0B14",
                                  "TC": "0B14", "CC": "0B14"}

_FROMTIME = re.compile(r"\d{14}")
_DATE = re.compile(r"\d{8}")
_RACE_KEY = re.compile(r"\d{16}")


def _invalid(message: str, code: int, **details: object) -> InvalidParameter:
    return InvalidParameter(message, details={"jvlink_code": code, **details})


def get_dataspec(name: str) -> DataSpec:
    """The catalogue entry for ``name``; unknown names are JV-Link's -111."""
    spec = DATASPECS.get(name)
    if spec is None:
        valid = ", ".join(DATASPECS)
        raise _invalid(f"unknown dataspec {name!r}; valid: {valid}", -111, dataspec=name,
                       valid=list(DATASPECS))
    return spec


def _parse_instant(value: str) -> bool:
    if not _FROMTIME.fullmatch(value):
        return False
    try:
        _dt.datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


def validate_fromtime(spec: DataSpec, fromtime: str) -> tuple[str, str | None]:
    """Split ``YYYYMMDDhhmmss`` or ``start-end`` into (start, end or None).

    JV-Link's codes: -112 for a bad start, -113 for a bad end, an end before the
    start, or a range on a dataspec that refuses one.
    """
    if spec.kind != "stored":
        raise _invalid(f"{spec.name} is a realtime dataspec; it takes a key, not a fromtime",
                       -111, dataspec=spec.name)
    start, sep, end = fromtime.partition("-")
    if not _parse_instant(start):
        raise _invalid(f"fromtime start {start!r} is not YYYYMMDDhhmmss", -112, fromtime=fromtime)
    if not sep:
        return start, None
    if not spec.allows_range:
        raise _invalid(f"{spec.name} does not accept a start-end range", -113, fromtime=fromtime)
    if not _parse_instant(end):
        raise _invalid(f"fromtime end {end!r} is not YYYYMMDDhhmmss", -113, fromtime=fromtime)
    if end < start:
        raise _invalid(f"fromtime end {end} is before start {start}", -113, fromtime=fromtime)
    return start, end


def validate_option(spec: DataSpec, option: int) -> int:
    """Check a JVOpen option: not 1-4 → -115; not accepted with this dataspec → -116."""
    if isinstance(option, bool) or option not in VALID_OPTIONS:
        raise _invalid(f"option {option!r} is not one of 1 (normal), 2 (this week), 3/4 (setup)",
                       -115, option=option)
    if option not in spec.options:
        allowed = sorted(spec.options)
        raise _invalid(f"{spec.name} cannot be opened with option {option}; allowed: {allowed}",
                       -116, dataspec=spec.name, option=option)
    return option


def realtime_key_kind(key: str) -> KeyKind | None:
    """``"date"`` for a valid ``YYYYMMDD``, ``"race"`` for a 16-char race key, else None."""
    if _DATE.fullmatch(key) or _RACE_KEY.fullmatch(key):
        try:
            _dt.datetime.strptime(key[:8], "%Y%m%d")
        except ValueError:
            return None
        return "date" if len(key) == 8 else "race"
    return None


def validate_realtime_key(spec: DataSpec, key: str) -> KeyKind:
    """Check a JVRTOpen key for ``spec``; odds feeds need a race key. Errors are -114."""
    if spec.kind != "realtime":
        raise _invalid(f"{spec.name} is a stored dataspec; use fromtime and option", -111,
                       dataspec=spec.name)
    kind = realtime_key_kind(key)
    if kind is None:
        raise _invalid(f"realtime key {key!r} is neither YYYYMMDD nor a race key YYYYMMDDJJKKHHRR",
                       -114, key=key)
    if kind not in spec.key_kinds:
        need = "a race key YYYYMMDDJJKKHHRR" if kind == "date" else "a date YYYYMMDD"
        raise _invalid(f"{spec.name} needs {need}", -114, key=key, dataspec=spec.name)
    return kind


def stored_dataspec_for_record_type(record_type: str) -> str:
    """The stored dataspec a record type is filed under when none is given (RA → RACE, UM → DIFF)."""
    try:
        return _STORED_HOME[record_type]
    except KeyError:
        raise _invalid(f"no stored dataspec delivers record type {record_type!r}", -111,
                       record_type=record_type) from None


def default_dataspec_for_record_type(record_type: str) -> str | None:
    """Stored home if any, else the realtime feed for types JVOpen never sends (WH → 0B11)."""
    return _STORED_HOME.get(record_type) or _REALTIME_HOME.get(record_type)
