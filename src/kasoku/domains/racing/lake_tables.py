"""The racing lake's tables: one DuckLake table per record layout, their keys, and the readable views.

Table names are the record type in lower case (``ra``, ``se``, ``o1`` … ``wf``); the older
``_V4802`` layouts (other columns) get tables of their own (``um_v4802``). Each table holds
the columns of :func:`kasoku.domains.racing.columnar.decode_table` plus:

- ``race_date`` (DATE), only where the layout has a day: the meeting day (``meet_year`` +
  ``meet_date``; training records: ``training_date``); those tables are partitioned by its year;
- ``_key``: the record's JV-Data key (the key fields' exact bytes, ``|``-joined), the unit of
  JV-Data's update semantics (a later record for a key replaces it, ``data_code`` 0 deletes it);
- ``_hash``: blake2b of the record's bytes (a re-import of the same record changes nothing).

The views (``races``, ``entries``, ``payouts``, ``odds``, ``horses``, ``jockeys``,
``trainers``, ``pedigree``) are SQL over those tables; :func:`view_sql` gives them over any
relation (the API pins every table to one snapshot), and the import also stores them in the
lake as DuckLake views so any DuckDB client reading the lake sees them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from kasoku.domains.racing.columnar import decode_table
from kasoku.domains.racing.fields import Field, Layout
from kasoku.domains.racing.layouts import LAYOUTS, LEGACY_LAYOUTS, RACE_KEYED

RACE_KEY = ("race_id",)
# Key fields per record type (jvdata-layouts*.md "key fields"; the race key's six fields are race_id).
KEYS: dict[str, tuple[str, ...]] = {
    **{t: RACE_KEY for t in ("RA", "HR", "H1", "H6", "O1", "O2", "O3", "O4", "O5", "O6", "WH", "DM", "TM",
                             "CC", "TC", "TK")},
    "SE": ("race_id", "horse_number", "pedigree_reg_num"),
    "AV": ("race_id", "horse_number"), "JC": ("race_id", "horse_number"),
    "CK": ("race_id", "pedigree_reg_num"),
    "JG": ("race_id", "pedigree_reg_num", "entry_order"),
    "WF": ("meet_year", "meet_date"),
    "YS": ("meet_year", "meet_date", "racecourse_code", "meet_round", "meet_day"),
    "WE": ("meet_year", "meet_date", "racecourse_code", "meet_round", "meet_day", "announcement_datetime",
           "change_identifier"),
    "UM": ("pedigree_reg_num",), "KS": ("jockey_code",), "CH": ("trainer_code",), "BN": ("owner_code",),
    "BR": ("breeder_code",), "BT": ("breeding_reg_num",), "HN": ("breeding_reg_num",),
    "SK": ("pedigree_reg_num",), "HY": ("pedigree_reg_num",),
    "HS": ("pedigree_reg_num", "market_code", "market_start_date"),
    "RC": ("record_identification_code", "meet_year", "meet_date", "racecourse_code", "meet_round", "meet_day",
           "race_number", "special_race_number", "race_type_code", "distance", "track_code"),
    "CS": ("racecourse_code", "distance", "track_code", "course_revision_date"),
    "HC": ("training_center_code", "training_date", "training_time", "pedigree_reg_num"),
    "WC": ("training_center_code", "training_date", "training_time", "pedigree_reg_num"),
}
META_COLUMNS = ("race_date", "_key", "_hash")

# The raw records, exactly as delivered, for the JV-Link-shaped replay (/api/v1/data/{dataspec}):
# every record as delivered, one row each. ``day``: the data-creation date (stored dataspecs)
# or the race day (realtime ones), as JV-Link selects them; ``seq``: import order, growing with
# every import (a day's records come back in the order they were imported; the replay's data
# version reads "added since" from it: replay_versions.py).
RAW_TABLE = "jvdata_raw"
RAW_COLUMNS = ("dataspec VARCHAR, kind VARCHAR, day VARCHAR, race_key VARCHAR, seq BIGINT, record_type VARCHAR, "
               "record BLOB, _hash VARCHAR")
DELETE_CODE = "0"  # data_code 0: 該当レコード削除


def table_name(layout: Layout) -> str:
    return layout.record_type.lower() + (f"_{layout.variant.lower()}" if layout.variant else "")


LAYOUT_OF: dict[str, Layout] = {table_name(lay): lay for lay in (*LAYOUTS.values(), *LEGACY_LAYOUTS.values())}
TABLES: tuple[str, ...] = tuple(LAYOUT_OF)


def _field(layout: Layout, name: str) -> Field:
    for item in layout.items:
        if item.name == name and isinstance(item, Field):
            return item
    raise KeyError(f"{layout.record_type} has no field {name!r}")


def key_slices(layout: Layout) -> tuple[slice, ...]:
    """Where the key's bytes are in a record of ``layout`` (race_id: bytes 12-27)."""
    out = []
    for name in KEYS[layout.record_type]:
        if name == "race_id":
            out.append(slice(11, 27))
        else:
            f = _field(layout, name)
            out.append(slice(f.pos - 1, f.pos - 1 + f.size))
    return tuple(out)


def record_key(raw: bytes, slices: tuple[slice, ...]) -> str:
    """One record's key: the key fields' exact bytes, ``|``-joined (what :func:`record_keys` makes)."""
    return "|".join(raw[s].decode("cp932", "replace") for s in slices)


def record_keys(matrix: np.ndarray, slices: tuple[slice, ...]) -> pa.Array:
    """The keys of many records of one layout at once (``matrix``: records x bytes)."""
    rows = matrix.shape[0]
    parts: list[np.ndarray] = []
    for i, s in enumerate(slices):
        if i:
            parts.append(np.full((rows, 1), ord("|"), np.uint8))
        parts.append(matrix[:, s])
    keys = np.ascontiguousarray(np.concatenate(parts, axis=1)) if parts else np.zeros((rows, 0), np.uint8)
    if (keys < 0x80).all():
        width = keys.shape[1]
        offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32) if rows else np.zeros(1, np.int32)
        return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(keys))
    return pa.array([row.tobytes().decode("cp932", "replace") for row in keys], pa.string())


def date_source(layout: Layout) -> str | None:
    """How ``race_date`` is made for a layout: 'meet' (meet_year + meet_date), 'training', or None."""
    names = {item.name for item in layout.items}
    if {"meet_year", "meet_date"} <= names and (layout.record_type in RACE_KEYED or layout.record_type in
                                                ("YS", "WE", "WF")):
        return "meet"
    if "training_date" in names:
        return "training"
    return None


def empty_table(name: str) -> pa.Table:
    """The table's columns (no rows): the decoder's schema plus the meta columns."""
    t = decode_table([], LAYOUT_OF[name])
    if date_source(LAYOUT_OF[name]) is not None:
        t = t.append_column("race_date", pa.array([], pa.date32()))
    return (t.append_column("_key", pa.array([], pa.string()))
             .append_column("_hash", pa.array([], pa.string())))


# --- filters: which query parameter means which column --------------------------------
FILTER_COLUMNS: dict[str, str] = {
    "race_id": "race_id", "racecourse": "racecourse_code", "horse": "pedigree_reg_num",
    "jockey": "jockey_code", "trainer": "trainer_code",
}
DATE_COLUMN = "race_date"  # start= / end= filter on it


# --- the views --------------------------------------------------------------------------
Ref = Callable[[str], str]  # table name -> a relation (``lake.se`` or ``lake.se AT (VERSION => 7)``)

_BET_ODDS = (  # (table, list column, bet_type, combination expression, odds expression)
    ("o1", "win_odds", "win", "lpad(CAST(x.horse_number AS VARCHAR), 2, '0')", "x.odds"),
    ("o1", "place_odds", "place", "lpad(CAST(x.horse_number AS VARCHAR), 2, '0')", "x.min_odds"),
    ("o1", "bracket_quinella_odds", "bracket_quinella", "x.combination", "x.odds"),
    ("o2", "quinella_odds", "quinella", "x.combination", "x.odds"),
    ("o3", "wide_odds", "wide", "x.combination", "x.min_odds"),
    ("o4", "exacta_odds", "exacta", "x.combination", "x.odds"),
    ("o5", "trio_odds", "trio", "x.combination", "x.odds"),
    ("o6", "trifecta_odds", "trifecta", "x.combination", "x.odds"),
)
_BETS = ("win", "place", "bracket_quinella", "quinella", "wide", "exacta", "trio", "trifecta")


def _odds(ref: Ref) -> str:
    parts = [f"""SELECT race_id, race_date, racecourse_code, '{bet}' AS bet_type, {combo} AS combination,
                        {odds} AS odds, x.popularity_rank AS popularity, announcement_datetime
                 FROM (SELECT race_id, race_date, racecourse_code, announcement_datetime, unnest({col}) AS x
                       FROM {ref(table)})"""
             for table, col, bet, combo, odds in _BET_ODDS]
    return " UNION ALL ".join(parts)


def _payouts(ref: Ref) -> str:
    parts = [f"""SELECT race_id, race_date, racecourse_code, '{bet}' AS bet_type, x.number AS combination,
                        x.payout AS payout, x.popularity_rank AS popularity
                 FROM (SELECT race_id, race_date, racecourse_code, unnest({bet}_payback) AS x FROM {ref('hr')})"""
             for bet in _BETS]
    return " UNION ALL ".join(parts)


VIEWS: dict[str, Callable[[Ref], str]] = {
    "races": lambda ref: f"""
        SELECT race_id, race_date, racecourse_code, meet_round, meet_day, CAST(race_number AS INTEGER) AS race_number,
               weekday_code, race_name_main AS race_name, race_short_name_10 AS race_short_name, grade_code,
               race_type_code, weight_type_code, distance, track_code, course_code, post_time, num_entries,
               num_starters, num_finishers, weather_code, turf_track_condition_code, dirt_track_condition_code,
               purse_money[1] AS first_prize, data_code
        FROM {ref('ra')}""",
    "entries": lambda ref: f"""
        SELECT race_id, race_date, racecourse_code, CAST(race_number AS INTEGER) AS race_number, bracket_number,
               horse_number, pedigree_reg_num, horse_name, horse_sex_code, horse_age, jockey_code, jockey_short_name,
               trainer_code, trainer_short_name, owner_code, carrying_weight, horse_weight, weight_change_sign,
               weight_change_diff, abnormality_code, finish_order, confirmed_placing, finish_time, time_diff,
               last_3f_time, corner1_position, corner2_position, corner3_position, corner4_position, win_odds,
               win_popularity_rank, earned_purse_money, data_code
        FROM {ref('se')}""",
    "odds": _odds,
    "payouts": _payouts,
    "horses": lambda ref: f"""
        SELECT pedigree_reg_num, horse_name, horse_name_kana, horse_name_english, birth_date, sex_code, coat_color_code,
               trainer_code, trainer_name_short, owner_code, owner_name, breeder_code, breeder_name, birthplace_name,
               flat_prize_money_total, deregistration_flag, registration_date, deregistration_date,
               pedigree_3gen[1].horse_name AS sire_name, pedigree_3gen[2].horse_name AS dam_name
        FROM {ref('um')}""",
    "jockeys": lambda ref: f"""
        SELECT jockey_code, jockey_name, jockey_name_kana, jockey_name_short, jockey_name_english, birth_date,
               sex_code, affiliation_code, affiliated_trainer_code, license_issue_date, deregistration_flag
        FROM {ref('ks')}""",
    "trainers": lambda ref: f"""
        SELECT trainer_code, trainer_name, trainer_name_kana, trainer_name_short, trainer_name_english, birth_date,
               sex_code, affiliation_code, license_issue_date, deregistration_flag
        FROM {ref('ch')}""",
    # UM's 14 ancestors in JV-Data order: sire, dam, sire's sire, sire's dam, dam's sire, dam's dam, ...
    "pedigree": lambda ref: f"""
        SELECT pedigree_reg_num, horse_name, CAST(p.generation AS INTEGER) AS position,
               p.anc.breeding_reg_num AS ancestor_breeding_reg_num, p.anc.horse_name AS ancestor_name
        FROM (SELECT pedigree_reg_num, horse_name,
                     unnest(list_transform(pedigree_3gen, (a, i) -> {{'generation': i, 'anc': a}})) AS p
              FROM {ref('um')})""",
}
VIEW_TABLES: dict[str, tuple[str, ...]] = {
    "races": ("ra",), "entries": ("se",), "odds": ("o1", "o2", "o3", "o4", "o5", "o6"), "payouts": ("hr",),
    "horses": ("um",), "jockeys": ("ks",), "trainers": ("ch",), "pedigree": ("um",),
}
VIEW_NAMES: tuple[str, ...] = tuple(VIEWS)


def view_sql(name: str, ref: Ref) -> str:
    return VIEWS[name](ref).strip()
