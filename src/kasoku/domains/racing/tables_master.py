"""Layout tables of masters and reference data: horses, jockeys, trainers, owners,
breeders, breeding horses, offspring, sire lines, sales, name origins, course records and
descriptions, the schedule, special registrations and training times; with the older
``V4802`` layouts the legacy dataspecs (DIFF, BLOD, HOSE, ...) still deliver.

Positions are those of ``shared/reference/jvdata-layouts.md`` (UM KS CH YS) and
``jvdata-layouts-more.md`` (the rest); ``tests/samples`` checks them against both.
"""

from __future__ import annotations

from kasoku.domains.racing.fields import (
    RACE_KEY,
    Layout,
    clock,
    code,
    date,
    dec,
    group,
    jtext,
    num,
    racetime,
    sub,
    text,
)

_GRADED_WIN = (  # KS/CH 最近重賞勝利情報, 3 x 163B
    sub(0, code("race_key", 0, 16)), sub(16, jtext("race_name_main", 0, 60)),
    sub(76, jtext("race_short_name_10", 0, 20)), sub(96, jtext("race_short_name_6", 0, 12)),
    sub(108, jtext("race_short_name_3", 0, 6)), sub(114, code("grade_code", 0, 1)),
    sub(115, num("num_starters", 0, 2)), sub(117, code("pedigree_reg_num", 0, 10)),
    sub(127, jtext("horse_name", 0, 36)),
)

_VENUES = ("sapporo", "hakodate", "fukushima", "niigata", "tokyo", "nakayama", "chukyo", "kyoto",
           "hanshin", "kokura")

_STAT_COUNTS = (["flat", "steeplechase"]
                + [f"{v}_{s}" for v in _VENUES for s in ("flat", "steeplechase")]
                + ["turf_class_d", "turf_class_e", "turf_gt2200", "dirt_class_d", "dirt_class_e",
                   "dirt_gt2200"])

_PERFORMANCE = (  # KS/CH 本年前年累計成績情報, 3 x 1052B; each placing count block is 6 x 6B
    sub(0, num("year", 0, 4)),
    sub(4, num("flat_prize_money", 0, 10)), sub(14, num("steeplechase_prize_money", 0, 10)),
    sub(24, num("flat_added_money", 0, 10)), sub(34, num("steeplechase_added_money", 0, 10)),
    *(sub(44 + 36 * n, num(f"{name}_placing_counts", 0, 6, count=6)) for n, name in enumerate(_STAT_COUNTS)),
)

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
        code("pedigree_reg_num", 12, 10), code("deregistration_flag", 22, 1), date("registration_date", 23),
        date("deregistration_date", 31), date("birth_date", 39), jtext("horse_name", 47, 36),
        text("horse_name_kana", 83, 36), text("horse_name_english", 119, 60), code("jra_facility_flag", 179, 1),
        code("horse_symbol_code", 199, 2), code("sex_code", 201, 1), code("breed_code", 202, 1),
        code("coat_color_code", 203, 2),
        group("pedigree_3gen", 205, 14 * (reg + 36), 14, reg + 36,
           sub(0, code("breeding_reg_num", 0, reg)), sub(reg, jtext("horse_name", 0, 36))),
        code("affiliation_code", p, 1), code("trainer_code", p + 1, 5), jtext("trainer_name_short", p + 6, 8),
        jtext("invitation_area_name", p + 14, 20), code("breeder_code", p + 34, bcode),
        jtext("breeder_name", p + 34 + bcode, bname), jtext("birthplace_name", p + 34 + bcode + bname, 20),
        code("owner_code", tail - 70, 6), jtext("owner_name", tail - 64, 64),
        *(num(name, tail + 9 * n, 9) for n, name in enumerate((  # unit 100 yen
            "flat_prize_money_total", "steeplechase_prize_money_total", "flat_added_money_total",
            "steeplechase_added_money_total", "flat_earnings_total", "steeplechase_earnings_total"))),
        *(num(f"{name}_placing_counts", tail + 54 + 18 * n, 3, count=6) for n, name in enumerate(_UM_PLACINGS)),
        num("running_style_counts", tail + 540, 3, count=4), num("registered_race_count", tail + 552, 3),
    ), variant)

UM = _um("")

UM_V4802 = _um("V4802")

KS = Layout("KS", 4173, (
    code("jockey_code", 12, 5), code("deregistration_flag", 17, 1), date("license_issue_date", 18),
    date("license_revoked_date", 26), date("birth_date", 34), jtext("jockey_name", 42, 34),
    text("jockey_name_kana", 110, 30), jtext("jockey_name_short", 140, 8), text("jockey_name_english", 148, 80),
    code("sex_code", 228, 1), code("riding_qualification_code", 229, 1), code("jockey_apprentice_code", 230, 1),
    code("affiliation_code", 231, 1), jtext("invitation_area_name", 232, 20), code("affiliated_trainer_code", 252, 5),
    jtext("affiliated_trainer_name_short", 257, 8),
    group("first_ride_info", 265, 134, 2, 67, sub(0, code("race_key", 0, 16)), sub(16, num("num_starters", 0, 2)),
       sub(18, code("pedigree_reg_num", 0, 10)), sub(28, jtext("horse_name", 0, 36)),
       sub(64, num("confirmed_placing", 0, 2)), sub(66, code("abnormality_code", 0, 1))),
    group("first_win_info", 399, 128, 2, 64, sub(0, code("race_key", 0, 16)), sub(16, num("num_starters", 0, 2)),
       sub(18, code("pedigree_reg_num", 0, 10)), sub(28, jtext("horse_name", 0, 36))),
    group("recent_graded_wins", 527, 489, 3, 163, *_GRADED_WIN),
    group("performance_stats", 1016, 3156, 3, 1052, *_PERFORMANCE),
))

CH = Layout("CH", 3862, (
    code("trainer_code", 12, 5), code("deregistration_flag", 17, 1), date("license_issue_date", 18),
    date("license_revoked_date", 26), date("birth_date", 34), jtext("trainer_name", 42, 34),
    text("trainer_name_kana", 76, 30), jtext("trainer_name_short", 106, 8), text("trainer_name_english", 114, 80),
    code("sex_code", 194, 1), code("affiliation_code", 195, 1), jtext("invitation_area_name", 196, 20),
    group("recent_graded_wins", 216, 489, 3, 163, *_GRADED_WIN),
    group("performance_stats", 705, 3156, 3, 1052, *_PERFORMANCE),
))

YS = Layout("YS", 382, (
    *RACE_KEY[:5], code("weekday_code", 26, 1),
    group("graded_race_guide", 27, 354, 3, 118, sub(0, code("special_race_number", 0, 4)),
       sub(4, jtext("race_name_main", 0, 60)), sub(64, jtext("race_short_name_10", 0, 20)),
       sub(84, jtext("race_short_name_6", 0, 12)), sub(96, jtext("race_short_name_3", 0, 6)),
       sub(102, num("graded_race_round_number", 0, 3)), sub(105, code("grade_code", 0, 1)),
       sub(106, code("race_type_code", 0, 2)), sub(108, code("race_symbol_code", 0, 3)),
       sub(111, code("weight_type_code", 0, 1)), sub(112, num("distance", 0, 4)),
       sub(116, code("track_code", 0, 2))),
))

BN = Layout("BN", 477, (
    code("owner_code", 12, 6), jtext("owner_name_with_corp", 18, 64), jtext("owner_name", 82, 64),
    text("owner_name_kana", 146, 50), text("owner_name_english", 196, 100), jtext("silk_colors_code", 296, 60),
    group("performance_stats", 356, 120, 2, 60, sub(0, num("year", 0, 4)), sub(4, num("prize_money", 0, 10)),
          sub(14, num("added_money", 0, 10)), sub(24, num("placing_counts", 0, 6, count=6))),
))

BR = Layout("BR", 545, (
    code("breeder_code", 12, 8), jtext("breeder_name_with_corp", 20, 72), jtext("breeder_name", 92, 72),
    text("breeder_name_kana", 164, 72), text("breeder_name_english", 236, 168), jtext("address", 404, 20),
    group("performance_stats", 424, 120, 2, 60, sub(0, num("year", 0, 4)), sub(4, num("prize_money", 0, 10)),
          sub(14, num("added_money", 0, 10)), sub(24, num("placing_counts", 0, 6, count=6))),
))

BR_V4802 = Layout("BR", 537, (
    code("breeder_code", 12, 6), jtext("breeder_name_with_corp", 18, 70), jtext("breeder_name", 88, 70),
    text("breeder_name_kana", 158, 70), text("breeder_name_english", 228, 168), jtext("address", 396, 20),
    group("performance_stats", 416, 120, 2, 60, sub(0, num("year", 0, 4)), sub(4, num("prize_money", 0, 10)),
          sub(14, num("added_money", 0, 10)), sub(24, num("placing_counts", 0, 6, count=6))),
), "V4802")

BT = Layout("BT", 6889, (
    code("breeding_reg_num", 12, 10), code("lineage_id", 22, 30), jtext("lineage_name", 52, 36),
    jtext("lineage_description", 88, 6800),
))

BT_V4802 = Layout("BT", 6887, (
    code("breeding_reg_num", 12, 8), code("lineage_id", 20, 30), jtext("lineage_name", 50, 36),
    jtext("lineage_description", 86, 6800),
), "V4802")

HN = Layout("HN", 251, (
    code("breeding_reg_num", 12, 10), code("pedigree_reg_num", 30, 10), jtext("horse_name", 41, 36),
    text("horse_name_kana", 77, 40), text("horse_name_english", 117, 80), num("birth_year", 197, 4),
    code("sex_code", 201, 1), code("breed_code", 202, 1), code("coat_color_code", 203, 2),
    code("import_code", 205, 1), num("import_year", 206, 4), jtext("birthplace_name", 210, 20),
    code("sire_breeding_reg_num", 230, 10), code("dam_breeding_reg_num", 240, 10),
))

HN_V4802 = Layout("HN", 245, (
    code("breeding_reg_num", 12, 8), code("pedigree_reg_num", 28, 10), jtext("horse_name", 39, 36),
    text("horse_name_kana", 75, 40), text("horse_name_english", 115, 80), num("birth_year", 195, 4),
    code("sex_code", 199, 1), code("breed_code", 200, 1), code("coat_color_code", 201, 2),
    code("import_code", 203, 1), num("import_year", 204, 4), jtext("birthplace_name", 208, 20),
    code("sire_breeding_reg_num", 228, 8), code("dam_breeding_reg_num", 236, 8),
), "V4802")

SK = Layout("SK", 208, (
    code("pedigree_reg_num", 12, 10), date("birth_date", 22), code("sex_code", 30, 1),
    code("breed_code", 31, 1), code("coat_color_code", 32, 2), code("import_code", 34, 1),
    num("import_year", 35, 4), code("breeder_code", 39, 8), jtext("birthplace_name", 47, 20),
    code("three_gen_pedigree_breeding_reg_nums", 67, 10, count=14),
))

SK_V4802 = Layout("SK", 178, (
    code("pedigree_reg_num", 12, 10), date("birth_date", 22), code("sex_code", 30, 1),
    code("breed_code", 31, 1), code("coat_color_code", 32, 2), code("import_code", 34, 1),
    num("import_year", 35, 4), code("breeder_code", 39, 6), jtext("birthplace_name", 45, 20),
    code("three_gen_pedigree_breeding_reg_nums", 65, 8, count=14),
), "V4802")

HS = Layout("HS", 200, (
    code("pedigree_reg_num", 12, 10), code("sire_breeding_reg_num", 22, 10),
    code("dam_breeding_reg_num", 32, 10), num("birth_year", 42, 4), code("market_code", 46, 6),
    jtext("organizer_name", 52, 40), jtext("market_name", 92, 80), date("market_start_date", 172),
    date("market_end_date", 180), num("horse_age_at_trade", 188, 1), num("trade_price", 189, 10),
))

HS_V4802 = Layout("HS", 196, (
    code("pedigree_reg_num", 12, 10), code("sire_breeding_reg_num", 22, 8),
    code("dam_breeding_reg_num", 30, 8), num("birth_year", 38, 4), code("market_code", 42, 6),
    jtext("organizer_name", 48, 40), jtext("market_name", 88, 80), date("market_start_date", 168),
    date("market_end_date", 176), num("horse_age_at_trade", 184, 1), num("trade_price", 185, 10),
), "V4802")

HY = Layout("HY", 123, (
    code("pedigree_reg_num", 12, 10), jtext("horse_name", 22, 36), jtext("horse_name_meaning", 58, 64),
))

RC = Layout("RC", 501, (
    code("record_identification_code", 12, 1), code("meet_year", 13, 4), code("meet_date", 17, 4),
    code("racecourse_code", 21, 2), code("meet_round", 23, 2), code("meet_day", 25, 2),
    code("race_number", 27, 2), code("special_race_number", 29, 4), jtext("race_name_main", 33, 60),
    code("grade_code", 93, 1), code("race_type_code", 94, 2), num("distance", 96, 4),
    code("track_code", 100, 2), code("record_type_code", 102, 1), racetime("record_time", 103, 4),
    code("weather_code", 107, 1), code("turf_track_condition_code", 108, 1),
    code("dirt_track_condition_code", 109, 1),
    group("record_holders", 110, 390, 3, 130, sub(0, code("pedigree_reg_num", 0, 10)),
          sub(10, jtext("horse_name", 0, 36)), sub(46, code("horse_symbol_code", 0, 2)),
          sub(48, code("sex_code", 0, 1)), sub(49, code("trainer_code", 0, 5)),
          sub(54, jtext("trainer_name", 0, 34)), sub(88, dec("impost_weight", 0, 3)),
          sub(91, code("jockey_code", 0, 5)), sub(96, jtext("jockey_name", 0, 34))),
))

CS = Layout("CS", 6829, (
    code("racecourse_code", 12, 2), num("distance", 14, 4), code("track_code", 18, 2),
    date("course_revision_date", 20), jtext("course_description", 28, 6800),
))

TK = Layout("TK", 21657, (
    code("weekday_code", 28, 1), code("special_race_number", 29, 4), jtext("race_name_main", 33, 60),
    jtext("race_name_subtitle", 93, 60), jtext("race_name_parentheses", 153, 60),
    text("race_name_main_english", 213, 120), text("race_name_subtitle_english", 333, 120),
    text("race_name_parentheses_english", 453, 120), jtext("race_short_name_10", 573, 20),
    jtext("race_short_name_6", 593, 12), jtext("race_short_name_3", 605, 6), code("race_name_code", 611, 1),
    num("graded_race_round_number", 612, 3), code("grade_code", 615, 1), code("race_type_code", 616, 2),
    code("race_symbol_code", 618, 3), code("weight_type_code", 621, 1), code("race_cond_code_2yo", 622, 3),
    code("race_cond_code_3yo", 625, 3), code("race_cond_code_4yo", 628, 3),
    code("race_cond_code_5yo_up", 631, 3), code("race_cond_code_youngest", 634, 3), num("distance", 637, 4),
    code("track_code", 641, 2), code("course_code", 643, 2), date("handicap_announcement_date", 645),
    num("num_entries", 653, 3),
    group("entry_horses", 656, 21000, 300, 70, sub(0, num("serial_number", 0, 3)),
          sub(3, code("pedigree_reg_num", 0, 10)), sub(13, jtext("horse_name", 0, 36)),
          sub(49, code("horse_symbol_code", 0, 2)), sub(51, code("sex_code", 0, 1)),
          sub(52, code("trainer_affiliation_code", 0, 1)), sub(53, code("trainer_code", 0, 5)),
          sub(58, jtext("trainer_short_name", 0, 8)), sub(66, dec("impost_weight", 0, 3)),
          sub(69, code("exchange_code", 0, 1))),
))

HC = Layout("HC", 60, (
    code("training_center_code", 12, 1), date("training_date", 13), clock("training_time", 21),
    code("pedigree_reg_num", 25, 10), dec("total_time_4f", 35, 4, zero_none=True),
    dec("lap_time_800_600", 39, 3, zero_none=True), dec("total_time_3f", 42, 4, zero_none=True),
    dec("lap_time_600_400", 46, 3, zero_none=True), dec("total_time_2f", 49, 4, zero_none=True),
    dec("lap_time_400_200", 53, 3, zero_none=True), dec("lap_time_200_0", 56, 3, zero_none=True),
))

WC = Layout("WC", 105, (
    code("training_center_code", 12, 1), date("training_date", 13), clock("training_time", 21),
    code("pedigree_reg_num", 25, 10), code("course", 35, 1), code("track_direction", 36, 1),
    dec("total_time_10f", 38, 4, zero_none=True), dec("lap_time_2000_1800", 42, 3, zero_none=True),
    dec("total_time_9f", 45, 4, zero_none=True), dec("lap_time_1800_1600", 49, 3, zero_none=True),
    dec("total_time_8f", 52, 4, zero_none=True), dec("lap_time_1600_1400", 56, 3, zero_none=True),
    dec("total_time_7f", 59, 4, zero_none=True), dec("lap_time_1400_1200", 63, 3, zero_none=True),
    dec("total_time_6f", 66, 4, zero_none=True), dec("lap_time_1200_1000", 70, 3, zero_none=True),
    dec("total_time_5f", 73, 4, zero_none=True), dec("lap_time_1000_800", 77, 3, zero_none=True),
    dec("total_time_4f", 80, 4, zero_none=True), dec("lap_time_800_600", 84, 3, zero_none=True),
    dec("total_time_3f", 87, 4, zero_none=True), dec("lap_time_600_400", 91, 3, zero_none=True),
    dec("total_time_2f", 94, 4, zero_none=True), dec("lap_time_400_200", 98, 3, zero_none=True),
    dec("lap_time_200_0", 101, 3, zero_none=True),
))
