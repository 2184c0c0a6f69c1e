"""JV-Data fixed-width layouts as data: one table per record type.

Positions and lengths are copied from ``shared/reference/jvdata-layouts.md``
(1-based byte positions in the cp932 record; record lengths include CR LF).
Kinds are ours; they decide how ``records.parse_record`` decodes a slice and how
``builder.build_record`` encodes a value:

- ``int``      zero-padded digits (an optional leading sign) -> int
- ``scaled``   digits / ``scale`` -> float (odds x10, kg x10, times in 0.1 s)
- ``racetime`` ``MSSF`` (minutes, seconds, tenths) -> seconds as float
- ``text``     cp932 text, trimmed of ASCII and full-width (U+3000) padding at both
               ends; ``full=True`` fields are padded with U+3000 by the builder
- ``code``     kept as a string, zero padding preserved ('01')
- ``date``     ``YYYYMMDD`` -> ``YYYY-MM-DD``
- ``clock``    ``hhmm`` -> ``HH:MM``

Reserved (予備) ranges are simply not listed. ``Layout`` tables are checked for
overlaps and bounds at import, so a typo fails loudly instead of mis-slicing.

Public: ``Field``, ``Group``, ``Layout``, ``LAYOUTS`` (current layouts by record
type), ``LEGACY_LAYOUTS`` (older layouts by (type, length)), ``RACE_KEYED``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["int", "scaled", "racetime", "text", "code", "date", "clock"]


@dataclass(frozen=True, slots=True)
class Field:
    """One fixed-width field; ``count > 1`` makes it a list of ``count`` elements of ``length`` bytes."""

    name: str
    pos: int  # 1-based; inside a Group, 1-based within the sub-record
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
    """A repeated sub-record (``count`` x ``width`` bytes) parsed as a list of dicts."""

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
    variant: str = ""  # "" for the current layout, e.g. "V4802" for an older one


# Short constructors keep the tables one line per field, close to the doc's rows.
def _i(name: str, pos: int, length: int, *, count: int = 1) -> Field:
    return Field(name, pos, length, "int", count=count)


def _s(name: str, pos: int, length: int, scale: int = 10, *, zero_none: bool = False, count: int = 1) -> Field:
    return Field(name, pos, length, "scaled", scale=scale, zero_none=zero_none, count=count)


def _rt(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "racetime", zero_none=True)


def _t(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "text")


def _j(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "text", full=True)


def _c(name: str, pos: int, length: int) -> Field:
    return Field(name, pos, length, "code")


def _d(name: str, pos: int) -> Field:
    return Field(name, pos, 8, "date")


def _k(name: str, pos: int) -> Field:
    return Field(name, pos, 4, "clock")


def _g(name: str, pos: int, total: int, count: int, width: int, *subs: tuple[int, Field]) -> Group:
    """Group from the doc's ``array N x WB: +off/len name`` notation; offsets are 0-based there."""
    if count * width != total:
        raise ValueError(f"{name}: {count} x {width} != {total}")
    return Group(name, pos, count, width, tuple(replace(f, pos=off + 1) for off, f in subs))


def _sub(off: int, f: Field) -> tuple[int, Field]:
    return (off, f)


HEADER: tuple[Field, ...] = (
    _c("record_type", 1, 2),
    _c("data_code", 3, 1),
    _d("data_creation_date", 4),
)
RACE_KEY: tuple[Field, ...] = (
    _c("meet_year", 12, 4),
    _c("meet_date", 16, 4),
    _c("racecourse_code", 20, 2),
    _c("meet_round", 22, 2),
    _c("meet_day", 24, 2),
    _c("race_number", 26, 2),
)
RACE_KEY_SLICE = slice(11, 27)

# Race-keyed per the doc (header rows 12-27 hold the race key), with or without a layout here.
RACE_KEYED: frozenset[str] = frozenset(
    {"RA", "SE", "HR", "H1", "H6", "O1", "O2", "O3", "O4", "O5", "O6", "WH", "JG"})

_GRADED_WIN = (  # KS/CH 最近重賞勝利情報, 3 x 163B
    _sub(0, _c("race_key", 0, 16)), _sub(16, _j("race_name_main", 0, 60)),
    _sub(76, _j("race_short_name_10", 0, 20)), _sub(96, _j("race_short_name_6", 0, 12)),
    _sub(108, _j("race_short_name_3", 0, 6)), _sub(114, _c("grade_code", 0, 1)),
    _sub(115, _i("num_starters", 0, 2)), _sub(117, _c("pedigree_reg_num", 0, 10)),
    _sub(127, _j("horse_name", 0, 36)),
)
_VENUES = ("sapporo", "hakodate", "fukushima", "niigata", "tokyo", "nakayama", "chukyo", "kyoto",
           "hanshin", "kokura")
_STAT_COUNTS = (["flat", "steeplechase"]
                + [f"{v}_{s}" for v in _VENUES for s in ("flat", "steeplechase")]
                + ["turf_class_d", "turf_class_e", "turf_gt2200", "dirt_class_d", "dirt_class_e",
                   "dirt_gt2200"])
_PERFORMANCE = (  # KS/CH 本年前年累計成績情報, 3 x 1052B; each placing count block is 6 x 6B
    _sub(0, _i("year", 0, 4)),
    _sub(4, _i("flat_prize_money", 0, 10)), _sub(14, _i("steeplechase_prize_money", 0, 10)),
    _sub(24, _i("flat_added_money", 0, 10)), _sub(34, _i("steeplechase_added_money", 0, 10)),
    *(_sub(44 + 36 * n, _i(f"{name}_placing_counts", 0, 6, count=6)) for n, name in enumerate(_STAT_COUNTS)),
)

RA = Layout("RA", 1272, (
    _c("weekday_code", 28, 1), _c("special_race_number", 29, 4),
    _j("race_name_main", 33, 60), _j("race_name_subtitle", 93, 60), _j("race_name_parentheses", 153, 60),
    _t("race_name_main_english", 213, 120), _t("race_name_subtitle_english", 333, 120),
    _t("race_name_parentheses_english", 453, 120),
    _j("race_short_name_10", 573, 20), _j("race_short_name_6", 593, 12), _j("race_short_name_3", 605, 6),
    _c("race_name_code", 611, 1), _i("graded_race_round_number", 612, 3),
    _c("grade_code", 615, 1), _c("before_grade_code", 616, 1), _c("race_type_code", 617, 2),
    _c("race_symbol_code", 619, 3), _c("weight_type_code", 622, 1),
    _c("race_cond_code_2yo", 623, 3), _c("race_cond_code_3yo", 626, 3), _c("race_cond_code_4yo", 629, 3),
    _c("race_cond_code_5yo_up", 632, 3), _c("race_cond_code_youngest", 635, 3),
    _j("race_condition_name", 638, 60),
    _i("distance", 698, 4), _i("before_distance", 702, 4),
    _c("track_code", 706, 2), _c("before_track_code", 708, 2),
    _c("course_code", 710, 2), _c("before_course_code", 712, 2),
    _i("purse_money", 714, 8, count=7), _i("before_purse_money", 770, 8, count=5),  # unit 100 yen
    _i("added_money", 810, 8, count=5), _i("before_added_money", 850, 8, count=3),
    _k("post_time", 874), _k("before_post_time", 878),
    _i("num_entries", 882, 2), _i("num_starters", 884, 2), _i("num_finishers", 886, 2),
    _c("weather_code", 888, 1), _c("turf_track_condition_code", 889, 1),
    _c("dirt_track_condition_code", 890, 1),
    _s("lap_times", 891, 3, zero_none=True, count=25),
    _rt("mile_time", 966, 4),
    _s("first_3f_time", 970, 3, zero_none=True), _s("first_4f_time", 973, 3, zero_none=True),
    _s("last_3f_time", 976, 3, zero_none=True), _s("last_4f_time", 979, 3, zero_none=True),
    _g("corner_passing_order", 982, 288, 4, 72,
       _sub(0, _c("corner", 0, 1)), _sub(1, _i("lap_count", 0, 1)), _sub(2, _t("passing_order", 0, 70))),
    _c("record_update_code", 1270, 1),
))

SE = Layout("SE", 555, (
    _i("bracket_number", 28, 1), _i("horse_number", 29, 2), _c("pedigree_reg_num", 31, 10),
    _j("horse_name", 41, 36), _c("horse_symbol_code", 77, 2), _c("horse_sex_code", 79, 1),
    _c("breed_code", 80, 1), _c("coat_color_code", 81, 2), _i("horse_age", 83, 2),
    _c("east_west_affiliation_code", 85, 1), _c("trainer_code", 86, 5), _j("trainer_short_name", 91, 8),
    _c("owner_code", 99, 6), _j("owner_name_individual", 105, 64), _j("silk_colors", 169, 60),
    _s("carrying_weight", 289, 3), _s("before_carrying_weight", 292, 3), _c("blinker_usage_code", 295, 1),
    _c("jockey_code", 297, 5), _c("before_jockey_code", 302, 5),
    _j("jockey_short_name", 307, 8), _j("before_jockey_short_name", 315, 8),
    _c("jockey_apprentice_code", 323, 1), _c("before_jockey_apprentice_code", 324, 1),
    _i("horse_weight", 325, 3), _c("weight_change_sign", 328, 1), _i("weight_change_diff", 329, 3),
    _c("abnormality_code", 332, 1), _i("finish_order", 333, 2), _i("confirmed_placing", 335, 2),
    _c("dead_heat_code", 337, 1), _i("dead_heat_count", 338, 1), _rt("finish_time", 339, 4),
    _c("margin_code", 343, 3), _c("margin_code_plus", 346, 3), _c("margin_code_plus_plus", 349, 3),
    _i("corner1_position", 352, 2), _i("corner2_position", 354, 2),
    _i("corner3_position", 356, 2), _i("corner4_position", 358, 2),
    _s("win_odds", 360, 4, zero_none=True), _i("win_popularity_rank", 364, 2),
    _i("earned_purse_money", 366, 8), _i("earned_added_money", 374, 8),
    _s("last_4f_time", 388, 3, zero_none=True), _s("last_3f_time", 391, 3, zero_none=True),
    _g("opponent_horses", 394, 138, 3, 46,
       _sub(0, _c("pedigree_reg_num", 0, 10)), _sub(10, _j("horse_name", 0, 36))),
    _s("time_diff", 532, 4), _c("record_update_code", 536, 1), _c("mining_code", 537, 1),
    # Mining predictions keep their raw digits: the doc gives no unit for them.
    _c("mining_pred_finish_time", 538, 5), _c("mining_pred_err_margin_plus", 543, 4),
    _c("mining_pred_err_margin_minus", 547, 4), _i("mining_pred_rank", 551, 2),
    _c("current_race_running_style_judgement", 553, 1),
))


def _payback(name: str, pos: int, total: int, count: int, width: int, num: int, rank: int) -> Group:
    return _g(name, pos, total, count, width, _sub(0, _c("number", 0, num)),
              _sub(num, _i("payout", 0, 9)), _sub(num + 9, _i("popularity_rank", 0, rank)))


_BETS = ("win", "place", "bracket_quinella", "quinella", "wide", None, "exacta", "trio", "trifecta")
HR = Layout("HR", 719, (
    _i("num_entries", 28, 2), _i("num_starters", 30, 2),
    # Three runs of 9 one-byte flags (the 6th of each run is reserved): cancelled, special payout, refund.
    *(_c(f"{bet}_{flag}", start + n, 1)
      for flag, start in (("cancelled_flag", 32), ("special_payout_flag", 41), ("refund_flag", 50))
      for n, bet in enumerate(_BETS) if bet is not None),
    _c("refund_horse_number_info_28", 59, 28), _c("refund_bracket_info", 87, 8),
    _c("refund_same_bracket_info", 95, 8),
    _payback("win_payback", 103, 39, 3, 13, 2, 2),
    _payback("place_payback", 142, 65, 5, 13, 2, 2),
    _payback("bracket_quinella_payback", 207, 39, 3, 13, 2, 2),
    _payback("quinella_payback", 246, 48, 3, 16, 4, 3),
    _payback("wide_payback", 294, 112, 7, 16, 4, 3),
    _payback("exacta_payback", 454, 96, 6, 16, 4, 3),
    _payback("trio_payback", 550, 54, 3, 18, 6, 3),
    _payback("trifecta_payback", 604, 114, 6, 19, 6, 4),
))

O1 = Layout("O1", 962, (
    _c("announcement_datetime", 28, 8), _i("num_entries", 36, 2), _i("num_starters", 38, 2),
    _c("win_sales_flag", 40, 1), _c("place_sales_flag", 41, 1), _c("bracket_quinella_sales_flag", 42, 1),
    _c("place_payout_key", 43, 1),
    _g("win_odds", 44, 224, 28, 8, _sub(0, _i("horse_number", 0, 2)),
       _sub(2, _s("odds", 0, 4, zero_none=True)), _sub(6, _i("popularity_rank", 0, 2))),
    _g("place_odds", 268, 336, 28, 12, _sub(0, _i("horse_number", 0, 2)),
       _sub(2, _s("min_odds", 0, 4, zero_none=True)), _sub(6, _s("max_odds", 0, 4, zero_none=True)),
       _sub(10, _i("popularity_rank", 0, 2))),
    _g("bracket_quinella_odds", 604, 324, 36, 9, _sub(0, _c("combination", 0, 2)),
       _sub(2, _s("odds", 0, 5, zero_none=True)), _sub(7, _i("popularity_rank", 0, 2))),
    _i("win_total_votes", 928, 11), _i("place_total_votes", 939, 11),
    _i("bracket_quinella_total_votes", 950, 11),
))

O2 = Layout("O2", 2042, (
    _c("announcement_datetime", 28, 8), _i("num_entries", 36, 2), _i("num_starters", 38, 2),
    _c("quinella_sales_flag", 40, 1),
    _g("quinella_odds", 41, 1989, 153, 13, _sub(0, _c("combination", 0, 4)),
       _sub(4, _s("odds", 0, 6, zero_none=True)), _sub(10, _i("popularity_rank", 0, 3))),
    _i("quinella_total_votes", 2030, 11),
))

_UM_PLACINGS = ("overall", "central", "turf_straight", "turf_right", "turf_left", "dirt_straight",
                "dirt_right", "dirt_left", "steeplechase", "turf_good", "turf_slightly_heavy", "turf_heavy",
                "turf_bad", "dirt_good", "dirt_slightly_heavy", "dirt_heavy", "dirt_bad", "steeplechase_good",
                "steeplechase_slightly_heavy", "steeplechase_heavy", "steeplechase_bad", "turf_short",
                "turf_mid", "turf_long", "dirt_short", "dirt_mid", "dirt_long")


def _um(variant: str) -> Layout:
    """UM, current or V4802. The older layout was measured on the V4802 sample (1577 bytes):
    繁殖登録番号 8 not 10 bytes (14 x 2), 生産者コード 6 not 8, 生産者名 70 not 72 -> everything
    from 馬主名 on sits 32 bytes earlier."""
    old = variant == "V4802"
    reg, bcode, bname = (8, 6, 70) if old else (10, 8, 72)
    p = 205 + 14 * (reg + 36)  # first byte after the 3-generation pedigree
    tail = 1053 - (32 if old else 0)  # money totals and placing counts, identical apart from the shift
    return Layout("UM", 1577 if old else 1609, (
        _c("pedigree_reg_num", 12, 10), _c("deregistration_flag", 22, 1), _d("registration_date", 23),
        _d("deregistration_date", 31), _d("birth_date", 39), _j("horse_name", 47, 36),
        _t("horse_name_kana", 83, 36), _t("horse_name_english", 119, 60), _c("jra_facility_flag", 179, 1),
        _c("horse_symbol_code", 199, 2), _c("sex_code", 201, 1), _c("breed_code", 202, 1),
        _c("coat_color_code", 203, 2),
        _g("pedigree_3gen", 205, 14 * (reg + 36), 14, reg + 36,
           _sub(0, _c("breeding_reg_num", 0, reg)), _sub(reg, _j("horse_name", 0, 36))),
        _c("affiliation_code", p, 1), _c("trainer_code", p + 1, 5), _j("trainer_name_short", p + 6, 8),
        _j("invitation_area_name", p + 14, 20), _c("breeder_code", p + 34, bcode),
        _j("breeder_name", p + 34 + bcode, bname), _j("birthplace_name", p + 34 + bcode + bname, 20),
        _c("owner_code", tail - 70, 6), _j("owner_name", tail - 64, 64),
        *(_i(name, tail + 9 * n, 9) for n, name in enumerate((  # unit 100 yen
            "flat_prize_money_total", "steeplechase_prize_money_total", "flat_added_money_total",
            "steeplechase_added_money_total", "flat_earnings_total", "steeplechase_earnings_total"))),
        *(_i(f"{name}_placing_counts", tail + 54 + 18 * n, 3, count=6) for n, name in enumerate(_UM_PLACINGS)),
        _i("running_style_counts", tail + 540, 3, count=4), _i("registered_race_count", tail + 552, 3),
    ), variant)


UM = _um("")
UM_V4802 = _um("V4802")

KS = Layout("KS", 4173, (
    _c("jockey_code", 12, 5), _c("deregistration_flag", 17, 1), _d("license_issue_date", 18),
    _d("license_revoked_date", 26), _d("birth_date", 34), _j("jockey_name", 42, 34),
    _t("jockey_name_kana", 110, 30), _j("jockey_name_short", 140, 8), _t("jockey_name_english", 148, 80),
    _c("sex_code", 228, 1), _c("riding_qualification_code", 229, 1), _c("jockey_apprentice_code", 230, 1),
    _c("affiliation_code", 231, 1), _j("invitation_area_name", 232, 20), _c("affiliated_trainer_code", 252, 5),
    _j("affiliated_trainer_name_short", 257, 8),
    _g("first_ride_info", 265, 134, 2, 67, _sub(0, _c("race_key", 0, 16)), _sub(16, _i("num_starters", 0, 2)),
       _sub(18, _c("pedigree_reg_num", 0, 10)), _sub(28, _j("horse_name", 0, 36)),
       _sub(64, _i("confirmed_placing", 0, 2)), _sub(66, _c("abnormality_code", 0, 1))),
    _g("first_win_info", 399, 128, 2, 64, _sub(0, _c("race_key", 0, 16)), _sub(16, _i("num_starters", 0, 2)),
       _sub(18, _c("pedigree_reg_num", 0, 10)), _sub(28, _j("horse_name", 0, 36))),
    _g("recent_graded_wins", 527, 489, 3, 163, *_GRADED_WIN),
    _g("performance_stats", 1016, 3156, 3, 1052, *_PERFORMANCE),
))

CH = Layout("CH", 3862, (
    _c("trainer_code", 12, 5), _c("deregistration_flag", 17, 1), _d("license_issue_date", 18),
    _d("license_revoked_date", 26), _d("birth_date", 34), _j("trainer_name", 42, 34),
    _t("trainer_name_kana", 76, 30), _j("trainer_name_short", 106, 8), _t("trainer_name_english", 114, 80),
    _c("sex_code", 194, 1), _c("affiliation_code", 195, 1), _j("invitation_area_name", 196, 20),
    _g("recent_graded_wins", 216, 489, 3, 163, *_GRADED_WIN),
    _g("performance_stats", 705, 3156, 3, 1052, *_PERFORMANCE),
))

WH = Layout("WH", 847, (
    _c("announcement_datetime", 28, 8),
    _g("horse_weight_infos", 36, 810, 18, 45, _sub(0, _i("horse_number", 0, 2)),
       _sub(2, _j("horse_name", 0, 36)), _sub(38, _i("horse_weight", 0, 3)),
       _sub(41, _c("weight_change_sign", 0, 1)), _sub(42, _i("weight_change_diff", 0, 3))),
))

YS = Layout("YS", 382, (
    *RACE_KEY[:5], _c("weekday_code", 26, 1),
    _g("graded_race_guide", 27, 354, 3, 118, _sub(0, _c("special_race_number", 0, 4)),
       _sub(4, _j("race_name_main", 0, 60)), _sub(64, _j("race_short_name_10", 0, 20)),
       _sub(84, _j("race_short_name_6", 0, 12)), _sub(96, _j("race_short_name_3", 0, 6)),
       _sub(102, _i("graded_race_round_number", 0, 3)), _sub(105, _c("grade_code", 0, 1)),
       _sub(106, _c("race_type_code", 0, 2)), _sub(108, _c("race_symbol_code", 0, 3)),
       _sub(111, _c("weight_type_code", 0, 1)), _sub(112, _i("distance", 0, 4)),
       _sub(116, _c("track_code", 0, 2))),
))


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


LAYOUTS: dict[str, Layout] = {lay.record_type: _with_header(lay) for lay in (RA, SE, HR, O1, O2, UM, KS, CH, WH, YS)}
LEGACY_LAYOUTS: dict[tuple[str, int], Layout] = {("UM", UM_V4802.length): _with_header(UM_V4802)}
