"""Layout tables of race-day records: race, entries, payouts, votes, odds, weights,
WIN5, exclusions, mining predictions and the realtime change notices.

Positions and lengths are those of ``shared/reference/jvdata-layouts.md`` (RA SE HR O1 O2
WH) and ``jvdata-layouts-more.md`` (the rest); ``tests/samples`` checks every row against
both documents. Every table here is race-keyed (bytes 12-27 hold the race key) except WE
(meet key, no race number) and WF (meet date only).
"""

from __future__ import annotations

from kasoku.domains.racing.fields import (
    Group,
    Layout,
    clock,
    code,
    dec,
    group,
    jtext,
    num,
    racetime,
    racetime100,
    sub,
    text,
)

RA = Layout("RA", 1272, (
    code("weekday_code", 28, 1), code("special_race_number", 29, 4),
    jtext("race_name_main", 33, 60), jtext("race_name_subtitle", 93, 60), jtext("race_name_parentheses", 153, 60),
    text("race_name_main_english", 213, 120), text("race_name_subtitle_english", 333, 120),
    text("race_name_parentheses_english", 453, 120),
    jtext("race_short_name_10", 573, 20), jtext("race_short_name_6", 593, 12), jtext("race_short_name_3", 605, 6),
    code("race_name_code", 611, 1), num("graded_race_round_number", 612, 3),
    code("grade_code", 615, 1), code("before_grade_code", 616, 1), code("race_type_code", 617, 2),
    code("race_symbol_code", 619, 3), code("weight_type_code", 622, 1),
    code("race_cond_code_2yo", 623, 3), code("race_cond_code_3yo", 626, 3), code("race_cond_code_4yo", 629, 3),
    code("race_cond_code_5yo_up", 632, 3), code("race_cond_code_youngest", 635, 3),
    jtext("race_condition_name", 638, 60),
    num("distance", 698, 4), num("before_distance", 702, 4),
    code("track_code", 706, 2), code("before_track_code", 708, 2),
    code("course_code", 710, 2), code("before_course_code", 712, 2),
    num("purse_money", 714, 8, count=7), num("before_purse_money", 770, 8, count=5),  # unit 100 yen
    num("added_money", 810, 8, count=5), num("before_added_money", 850, 8, count=3),
    clock("post_time", 874), clock("before_post_time", 878),
    num("num_entries", 882, 2), num("num_starters", 884, 2), num("num_finishers", 886, 2),
    code("weather_code", 888, 1), code("turf_track_condition_code", 889, 1),
    code("dirt_track_condition_code", 890, 1),
    dec("lap_times", 891, 3, zero_none=True, count=25),
    racetime("mile_time", 966, 4),
    dec("first_3f_time", 970, 3, zero_none=True), dec("first_4f_time", 973, 3, zero_none=True),
    dec("last_3f_time", 976, 3, zero_none=True), dec("last_4f_time", 979, 3, zero_none=True),
    group("corner_passing_order", 982, 288, 4, 72,
       sub(0, code("corner", 0, 1)), sub(1, num("lap_count", 0, 1)), sub(2, text("passing_order", 0, 70))),
    code("record_update_code", 1270, 1),
))

SE = Layout("SE", 555, (
    num("bracket_number", 28, 1), num("horse_number", 29, 2), code("pedigree_reg_num", 31, 10),
    jtext("horse_name", 41, 36), code("horse_symbol_code", 77, 2), code("horse_sex_code", 79, 1),
    code("breed_code", 80, 1), code("coat_color_code", 81, 2), num("horse_age", 83, 2),
    code("east_west_affiliation_code", 85, 1), code("trainer_code", 86, 5), jtext("trainer_short_name", 91, 8),
    code("owner_code", 99, 6), jtext("owner_name_individual", 105, 64), jtext("silk_colors", 169, 60),
    dec("carrying_weight", 289, 3), dec("before_carrying_weight", 292, 3), code("blinker_usage_code", 295, 1),
    code("jockey_code", 297, 5), code("before_jockey_code", 302, 5),
    jtext("jockey_short_name", 307, 8), jtext("before_jockey_short_name", 315, 8),
    code("jockey_apprentice_code", 323, 1), code("before_jockey_apprentice_code", 324, 1),
    num("horse_weight", 325, 3), code("weight_change_sign", 328, 1), num("weight_change_diff", 329, 3),
    code("abnormality_code", 332, 1), num("finish_order", 333, 2), num("confirmed_placing", 335, 2),
    code("dead_heat_code", 337, 1), num("dead_heat_count", 338, 1), racetime("finish_time", 339, 4),
    code("margin_code", 343, 3), code("margin_code_plus", 346, 3), code("margin_code_plus_plus", 349, 3),
    num("corner1_position", 352, 2), num("corner2_position", 354, 2),
    num("corner3_position", 356, 2), num("corner4_position", 358, 2),
    dec("win_odds", 360, 4, zero_none=True), num("win_popularity_rank", 364, 2),
    num("earned_purse_money", 366, 8), num("earned_added_money", 374, 8),
    dec("last_4f_time", 388, 3, zero_none=True), dec("last_3f_time", 391, 3, zero_none=True),
    group("opponent_horses", 394, 138, 3, 46,
       sub(0, code("pedigree_reg_num", 0, 10)), sub(10, jtext("horse_name", 0, 36))),
    dec("time_diff", 532, 4), code("record_update_code", 536, 1), code("mining_code", 537, 1),
    # Mining predictions: finish time m ss hh, error margins ss hh (as DM's; 0.01 s).
    racetime100("mining_pred_finish_time", 538, 5), dec("mining_pred_err_margin_plus", 543, 4, 100),
    dec("mining_pred_err_margin_minus", 547, 4, 100), num("mining_pred_rank", 551, 2),
    code("current_race_running_style_judgement", 553, 1),
))


def _payback(name: str, pos: int, total: int, count: int, width: int, digits: int, rank: int) -> Group:
    return group(name, pos, total, count, width, sub(0, code("number", 0, digits)),
                 sub(digits, num("payout", 0, 9)), sub(digits + 9, num("popularity_rank", 0, rank)))


_BETS = ("win", "place", "bracket_quinella", "quinella", "wide", None, "exacta", "trio", "trifecta")

HR = Layout("HR", 719, (
    num("num_entries", 28, 2), num("num_starters", 30, 2),
    # Three runs of 9 one-byte flags (the 6th of each run is reserved): cancelled, special payout, refund.
    *(code(f"{bet}_{flag}", start + n, 1)
      for flag, start in (("cancelled_flag", 32), ("special_payout_flag", 41), ("refund_flag", 50))
      for n, bet in enumerate(_BETS) if bet is not None),
    code("refund_horse_number_info_28", 59, 28), code("refund_bracket_info", 87, 8),
    code("refund_same_bracket_info", 95, 8),
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
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("win_sales_flag", 40, 1), code("place_sales_flag", 41, 1), code("bracket_quinella_sales_flag", 42, 1),
    code("place_payout_key", 43, 1),
    group("win_odds", 44, 224, 28, 8, sub(0, num("horse_number", 0, 2)),
       sub(2, dec("odds", 0, 4, zero_none=True)), sub(6, num("popularity_rank", 0, 2))),
    group("place_odds", 268, 336, 28, 12, sub(0, num("horse_number", 0, 2)),
       sub(2, dec("min_odds", 0, 4, zero_none=True)), sub(6, dec("max_odds", 0, 4, zero_none=True)),
       sub(10, num("popularity_rank", 0, 2))),
    group("bracket_quinella_odds", 604, 324, 36, 9, sub(0, code("combination", 0, 2)),
       sub(2, dec("odds", 0, 5, zero_none=True)), sub(7, num("popularity_rank", 0, 2))),
    num("win_total_votes", 928, 11), num("place_total_votes", 939, 11),
    num("bracket_quinella_total_votes", 950, 11),
))

O2 = Layout("O2", 2042, (
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("quinella_sales_flag", 40, 1),
    group("quinella_odds", 41, 1989, 153, 13, sub(0, code("combination", 0, 4)),
       sub(4, dec("odds", 0, 6, zero_none=True)), sub(10, num("popularity_rank", 0, 3))),
    num("quinella_total_votes", 2030, 11),
))

WH = Layout("WH", 847, (
    code("announcement_datetime", 28, 8),
    group("horse_weight_infos", 36, 810, 18, 45, sub(0, num("horse_number", 0, 2)),
       sub(2, jtext("horse_name", 0, 36)), sub(38, num("horse_weight", 0, 3)),
       sub(41, code("weight_change_sign", 0, 1)), sub(42, num("weight_change_diff", 0, 3))),
))

O3 = Layout("O3", 2654, (
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("wide_sales_flag", 40, 1),
    group("wide_odds", 41, 2601, 153, 17, sub(0, code("combination", 0, 4)),
          sub(4, dec("min_odds", 0, 5, zero_none=True)), sub(9, dec("max_odds", 0, 5, zero_none=True)),
          sub(14, num("popularity_rank", 0, 3))),
    num("wide_total_votes", 2642, 11),
))

O4 = Layout("O4", 4031, (
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("exacta_sales_flag", 40, 1),
    group("exacta_odds", 41, 3978, 306, 13, sub(0, code("combination", 0, 4)),
          sub(4, dec("odds", 0, 6, zero_none=True)), sub(10, num("popularity_rank", 0, 3))),
    num("exacta_total_votes", 4019, 11),
))

O5 = Layout("O5", 12293, (
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("trio_sales_flag", 40, 1),
    group("trio_odds", 41, 12240, 816, 15, sub(0, code("combination", 0, 6)),
          sub(6, dec("odds", 0, 6, zero_none=True)), sub(12, num("popularity_rank", 0, 3))),
    num("trio_total_votes", 12281, 11),
))

O6 = Layout("O6", 83285, (
    code("announcement_datetime", 28, 8), num("num_entries", 36, 2), num("num_starters", 38, 2),
    code("trifecta_sales_flag", 40, 1),
    group("trifecta_odds", 41, 83232, 4896, 17, sub(0, code("combination", 0, 6)),
          sub(6, dec("odds", 0, 7, zero_none=True)), sub(13, num("popularity_rank", 0, 4))),
    num("trifecta_total_votes", 83273, 11),
))

H1 = Layout("H1", 28955, (
    num("num_entries", 28, 2), num("num_starters", 30, 2), code("win_sales_flag", 32, 1),
    code("place_sales_flag", 33, 1), code("bracket_quinella_sales_flag", 34, 1),
    code("quinella_sales_flag", 35, 1), code("wide_sales_flag", 36, 1), code("exacta_sales_flag", 37, 1),
    code("trio_sales_flag", 38, 1), code("place_payout_key", 39, 1),
    code("refund_horse_numbers", 40, 1, count=28), code("refund_bracket_numbers", 68, 1, count=8),
    code("refund_same_bracket", 76, 1, count=8),
    group("win_votes", 84, 420, 28, 15, sub(0, num("horse_number", 0, 2)), sub(2, num("votes", 0, 11)),
          sub(13, num("popularity_rank", 0, 2))),
    group("place_votes", 504, 420, 28, 15, sub(0, num("horse_number", 0, 2)), sub(2, num("votes", 0, 11)),
          sub(13, num("popularity_rank", 0, 2))),
    group("bracket_quinella_votes", 924, 540, 36, 15, sub(0, code("combination", 0, 2)),
          sub(2, num("votes", 0, 11)), sub(13, num("popularity_rank", 0, 2))),
    group("quinella_votes", 1464, 2754, 153, 18, sub(0, code("combination", 0, 4)), sub(4, num("votes", 0, 11)),
          sub(15, num("popularity_rank", 0, 3))),
    group("wide_votes", 4218, 2754, 153, 18, sub(0, code("combination", 0, 4)), sub(4, num("votes", 0, 11)),
          sub(15, num("popularity_rank", 0, 3))),
    group("exacta_votes", 6972, 5508, 306, 18, sub(0, code("combination", 0, 4)), sub(4, num("votes", 0, 11)),
          sub(15, num("popularity_rank", 0, 3))),
    group("trio_votes", 12480, 16320, 816, 20, sub(0, code("combination", 0, 6)), sub(6, num("votes", 0, 11)),
          sub(17, num("popularity_rank", 0, 3))),
    num("win_total_votes", 28800, 11), num("place_total_votes", 28811, 11),
    num("bracket_quinella_total_votes", 28822, 11), num("quinella_total_votes", 28833, 11),
    num("wide_total_votes", 28844, 11), num("exacta_total_votes", 28855, 11),
    num("trio_total_votes", 28866, 11), num("win_refund_votes", 28877, 11),
    num("place_refund_votes", 28888, 11), num("bracket_quinella_refund_votes", 28899, 11),
    num("quinella_refund_votes", 28910, 11), num("wide_refund_votes", 28921, 11),
    num("exacta_refund_votes", 28932, 11), num("trio_refund_votes", 28943, 11),
))

H6 = Layout("H6", 102890, (
    num("num_entries", 28, 2), num("num_starters", 30, 2), code("trifecta_sales_flag", 32, 1),
    code("refund_horse_numbers", 33, 1, count=18),
    group("trifecta_votes", 51, 102816, 4896, 21, sub(0, code("combination", 0, 6)), sub(6, num("votes", 0, 11)),
          sub(17, num("popularity_rank", 0, 4))),
    num("trifecta_total_votes", 102867, 11), num("trifecta_refund_votes", 102878, 11),
))

WF = Layout("WF", 7215, (
    code("meet_year", 12, 4), code("meet_date", 16, 4),
    group("target_races", 22, 40, 5, 8, sub(0, code("racecourse_code", 0, 2)), sub(2, code("meet_round", 0, 2)),
          sub(4, code("meet_day", 0, 2)), sub(6, code("race_number", 0, 2))),
    num("total_tickets_sold", 68, 11), num("valid_ticket_counts", 79, 11, count=5),
    code("refund_flag", 134, 1), code("void_flag", 135, 1), code("no_winner_flag", 136, 1),
    num("carryover_initial", 137, 15), num("carryover_remaining", 152, 15),
    group("payout_info", 167, 7047, 243, 29, sub(0, code("combination", 0, 10)), sub(10, num("payout", 0, 9)),
          sub(19, num("winning_tickets", 0, 10))),
))

JG = Layout("JG", 80, (
    code("pedigree_reg_num", 28, 10), jtext("horse_name", 38, 36), num("entry_order", 74, 3),
    code("entry_code", 77, 1), code("exclusion_code", 78, 1),
))

DM = Layout("DM", 303, (
    clock("data_creation_time", 28),
    group("mining_predictions", 32, 270, 18, 15, sub(0, num("horse_number", 0, 2)),
          sub(2, racetime100("predicted_finish_time", 0, 5)),
          sub(7, dec("error_margin_plus", 0, 4, 100, zero_none=True)),
          sub(11, dec("error_margin_minus", 0, 4, 100, zero_none=True))),
))

TM = Layout("TM", 141, (
    clock("data_creation_time", 28),
    group("mining_predictions", 32, 108, 18, 6, sub(0, num("horse_number", 0, 2)),
          sub(2, dec("prediction_score", 0, 4))),
))

AV = Layout("AV", 78, (
    code("announcement_datetime", 28, 8), num("horse_number", 36, 2), jtext("horse_name", 38, 36),
    code("exclusion_reason_code", 74, 3),
))

CC = Layout("CC", 50, (
    code("announcement_datetime", 28, 8), num("after_distance", 36, 4), code("after_track_code", 40, 2),
    num("before_distance", 42, 4), code("before_track_code", 46, 2), code("reason_code", 48, 1),
))

JC = Layout("JC", 161, (
    code("announcement_datetime", 28, 8), num("horse_number", 36, 2), jtext("horse_name", 38, 36),
    dec("after_weight_carried", 74, 3), code("after_jockey_code", 77, 5), jtext("after_jockey_name", 82, 34),
    code("after_apprentice_code", 116, 1), dec("before_weight_carried", 117, 3),
    code("before_jockey_code", 120, 5), jtext("before_jockey_name", 125, 34),
    code("before_apprentice_code", 159, 1),
))

TC = Layout("TC", 45, (
    code("announcement_datetime", 28, 8), clock("after_post_time", 36), clock("before_post_time", 40),
))

WE = Layout("WE", 42, (
    code("meet_year", 12, 4), code("meet_date", 16, 4), code("racecourse_code", 20, 2),
    code("meet_round", 22, 2), code("meet_day", 24, 2), code("announcement_datetime", 26, 8),
    code("change_identifier", 34, 1), code("weather_code", 35, 1), code("turf_track_condition_code", 36, 1),
    code("dirt_track_condition_code", 37, 1), code("before_weather_code", 38, 1),
    code("before_turf_track_condition_code", 39, 1), code("before_dirt_track_condition_code", 40, 1),
))
