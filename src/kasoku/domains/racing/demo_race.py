"""One demo race, consistent across its records: the same horses (numbers, names, weights)
in RA, SE, WH, O1-O6 and HR; odds from each horse's strength (a favourite is one the model
thinks strong), the result drawn from the same strengths (Plackett-Luce: favourites win more
often, not always), and payouts equal to the final odds of the winning combinations.

``race_records(rng, plan, field) -> RaceRecords`` builds them with the record builder.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import combinations, permutations

from kasoku.domains.racing.builder import build_payout, build_record, build_weights
from kasoku.domains.racing.demo_names import Person
from kasoku.domains.racing.fields import Group
from kasoku.domains.racing.layouts import LAYOUTS

TAKE = {"win": 0.80, "place": 0.80, "bracket": 0.775, "quinella": 0.775, "wide": 0.775, "exacta": 0.75,
        "trio": 0.75, "trifecta": 0.725}  # JRA's payout rates


@dataclass(frozen=True)
class Horse:
    reg: str  # 血統登録番号
    name: str
    sex_code: str  # 1 牡, 2 牝, 3 セン
    age: int
    coat_code: str
    birth_date: str
    trainer: Person
    affiliation: str  # 1 美浦, 2 栗東
    owner_code: str
    owner_name: str
    silks: str
    breeder: str
    birthplace: str
    body_weight: int  # kg at the last race
    sire: str
    dam: str


@dataclass(frozen=True)
class RacePlan:
    race_id: str
    weekday_code: str  # JV-Data: 1 土, 2 日
    name: str  # 競走名本題 ('' for a plain race)
    condition: str  # 競走条件名称
    grade_code: str
    race_type_code: str
    cond_codes: tuple[str, str, str, str, str]  # 2歳, 3歳, 4歳, 5歳以上, 最若年
    weight_type_code: str
    distance: int
    track_code: str
    course_code: str
    post_time: str
    purse: tuple[int, ...]  # 1st-5th, unit 100 yen
    weather_code: str
    going_code: str  # 馬場状態 of the race's surface (the other surface gets the same)


@dataclass
class RaceRecords:
    entries_early: list[bytes] = field(default_factory=list)  # RA + SE, data_code 2 (出馬表)
    final: list[bytes] = field(default_factory=list)  # RA + SE + HR, data_code 7 (確定成績)
    odds: dict[str, bytes] = field(default_factory=dict)  # O1..O6
    weights: bytes = b""


def brackets(runners: int) -> list[int]:
    """JRA's bracket (枠) of each horse number: one horse per bracket up to 8 runners, then the
    higher brackets take two (16 runners: two in every bracket)."""
    singles = max(0, 16 - runners) if runners > 8 else runners
    out = list(range(1, singles + 1))
    bracket = singles
    while len(out) < runners:
        bracket += 1
        out += [bracket] * min(2, runners - len(out))
    return out


def _odds(p: float, take: float, cap: float) -> float:
    return round(min(cap, max(1.0, take / max(p, 1e-9))), 1)


def _ranks(odds: dict[str, float]) -> dict[str, int]:
    return {k: n for n, k in enumerate(sorted(odds, key=lambda c: (odds[c], c)), start=1)}


def _rows(odds: dict[str, float]) -> list[dict[str, object]]:
    ranks = _ranks(odds)
    return [{"combination": c, "odds": o, "popularity_rank": ranks[c]} for c, o in sorted(odds.items())]


def race_records(rng: random.Random, plan: RacePlan, horses: list[Horse], jockeys: list[Person]) -> RaceRecords:
    n = len(horses)
    numbers = range(1, n + 1)
    strength = {h: math.exp(rng.gauss(0, 0.75)) for h in numbers}
    total = sum(strength.values())
    p = {h: strength[h] / total for h in numbers}

    exacta = {(a, b): p[a] * p[b] / (1 - p[a]) for a, b in permutations(numbers, 2)}
    trifecta = {(a, b, c): exacta[a, b] * p[c] / (1 - p[a] - p[b]) for a, b, c in permutations(numbers, 3)}
    top3 = {h: 0.0 for h in numbers}
    pair3 = {pair: 0.0 for pair in combinations(numbers, 2)}
    for combo, q in trifecta.items():
        for h in combo:
            top3[h] += q
        for pair in combinations(sorted(combo), 2):
            pair3[pair] += q
    quinella = {(a, b): exacta[a, b] + exacta[b, a] for a, b in combinations(numbers, 2)}
    trio = {tuple(sorted(c)): 0.0 for c in combinations(numbers, 3)}
    for combo, q in trifecta.items():
        trio[tuple(sorted(combo))] += q

    win = {h: _odds(p[h], TAKE["win"], 999.9) for h in numbers}
    place = {h: _odds(top3[h] * 1.0, TAKE["place"], 999.9) for h in numbers}
    q_odds = {f"{a:02d}{b:02d}": _odds(q, TAKE["quinella"], 99999.9) for (a, b), q in quinella.items()}
    w_odds = {f"{a:02d}{b:02d}": _odds(q, TAKE["wide"], 9999.9) for (a, b), q in pair3.items()}
    e_odds = {f"{a:02d}{b:02d}": _odds(q, TAKE["exacta"], 99999.9) for (a, b), q in exacta.items()}
    t_odds = {"".join(f"{h:02d}" for h in c): _odds(q, TAKE["trio"], 99999.9) for c, q in trio.items()}
    f_odds = {"".join(f"{h:02d}" for h in c): _odds(q, TAKE["trifecta"], 999999.9) for c, q in trifecta.items()}
    frame = brackets(n)
    bracket_p: dict[str, float] = {}
    for (a, b), q in quinella.items():
        key = "".join(sorted(f"{frame[a - 1]}{frame[b - 1]}"))
        bracket_p[key] = bracket_p.get(key, 0.0) + q
    b_odds = {k: _odds(q, TAKE["bracket"], 9999.9) for k, q in bracket_p.items()}

    # The result: Plackett-Luce on the same strengths.
    order: list[int] = []
    left = dict(strength)
    while left:
        pick = rng.choices(list(left), weights=list(left.values()))[0]
        order.append(pick)
        del left[pick]
    placing = {h: i + 1 for i, h in enumerate(order)}

    out = RaceRecords()
    announced = f"{plan.race_id[4:8]}{plan.post_time.replace(':', '')}"
    common = {"race_id": plan.race_id, "num_entries": n, "num_starters": n}
    win_ranks = _ranks({str(h): o for h, o in win.items()})
    place_ranks = _ranks({str(h): o for h, o in place.items()})
    votes = 1000 + rng.randint(0, 3000)
    o1 = build_record("O1", data_code="5", data_creation_date=_day(plan), announcement_datetime=announced, **common,
                      win_sales_flag="7", place_sales_flag="7", bracket_quinella_sales_flag="7",
                      place_payout_key="3" if n >= 8 else "2",
                      win_odds=[{"horse_number": h, "odds": win[h], "popularity_rank": win_ranks[str(h)]}
                                for h in numbers],
                      place_odds=[{"horse_number": h, "min_odds": place[h],
                                   "max_odds": round(min(999.9, place[h] * (1.4 + rng.random())), 1),
                                   "popularity_rank": place_ranks[str(h)]} for h in numbers],
                      bracket_quinella_odds=_rows(b_odds), win_total_votes=votes * 120,
                      place_total_votes=votes * 150, bracket_quinella_total_votes=votes * 40)
    spec = {"O2": ("quinella", q_odds), "O3": ("wide", w_odds), "O4": ("exacta", e_odds),
            "O5": ("trio", t_odds), "O6": ("trifecta", f_odds)}
    out.odds["O1"] = o1
    for rtype, (bet, odds) in spec.items():
        shell = build_record(rtype, data_code="5", data_creation_date=_day(plan), announcement_datetime=announced,
                             **common, **{f"{bet}_sales_flag": "7", f"{bet}_total_votes": votes * 100})
        out.odds[rtype] = _with_odds(shell, rtype, f"{bet}_odds", odds)

    weights = {h: max(380, horses[h - 1].body_weight + rng.randint(-8, 8)) for h in numbers}
    out.weights = build_weights(plan.race_id, weights,
                                changes={h: weights[h] - horses[h - 1].body_weight for h in numbers},
                                names={h: horses[h - 1].name for h in numbers},
                                announcement_datetime=f"{plan.race_id[4:8]}{_minus(plan.post_time, 70)}")

    race_fields = _race_fields(plan, n)
    out.entries_early.append(build_record("RA", data_code="2", **race_fields, num_finishers=0))
    out.final.append(build_record("RA", data_code="7", **race_fields, num_finishers=n,
                                  **_race_result(rng, plan, n)))
    seconds = _winning_time(rng, plan)
    margins, behind_by_rank = _margins(rng, n)
    for h in numbers:
        horse, jockey = horses[h - 1], jockeys[h - 1]
        entry = {
            "race_id": plan.race_id, "data_creation_date": _day(plan), "bracket_number": frame[h - 1],
            "horse_number": h, "pedigree_reg_num": horse.reg, "horse_name": horse.name, "horse_symbol_code": "00",
            "horse_sex_code": horse.sex_code, "breed_code": "1", "coat_color_code": horse.coat_code,
            "horse_age": horse.age, "east_west_affiliation_code": horse.affiliation,
            "trainer_code": horse.trainer.code, "trainer_short_name": horse.trainer.short,
            "owner_code": horse.owner_code, "owner_name_individual": horse.owner_name, "silk_colors": horse.silks,
            "carrying_weight": (55.0 if horse.sex_code != "2" else 53.0) + (1.0 if horse.age > 3 else 0.0),
            "before_carrying_weight": 0.0, "blinker_usage_code": "1" if h % 7 == 0 else "0",
            "jockey_code": jockey.code, "before_jockey_code": "00000", "jockey_short_name": jockey.short,
            "jockey_apprentice_code": "0", "before_jockey_apprentice_code": "0",
            "record_update_code": "0", "mining_code": "0", "current_race_running_style_judgement": "0",
        }
        out.entries_early.append(build_record("SE", data_code="2", **entry, abnormality_code="0",
                                              dead_heat_code="0"))
        rank = placing[h]
        behind = behind_by_rank[rank]
        prize = plan.purse[rank - 1] if rank <= 5 else 0
        out.final.append(build_record(
            "SE", data_code="7", **entry, horse_weight=weights[h],
            weight_change_sign="-" if weights[h] < horse.body_weight else "+" if weights[h] > horse.body_weight else "",
            weight_change_diff=abs(weights[h] - horse.body_weight), abnormality_code="0", finish_order=rank,
            confirmed_placing=rank, dead_heat_code="0", dead_heat_count=0,
            finish_time=round(seconds + behind, 1), margin_code=margins[rank],
            corner3_position=max(1, min(n, rank + rng.randint(-3, 3))),
            corner4_position=max(1, min(n, rank + rng.randint(-2, 2))),
            win_odds=win[h], win_popularity_rank=win_ranks[str(h)], earned_purse_money=prize,
            last_3f_time=round(33.5 + rng.random() * 3 + behind / 3, 1),
            opponent_horses=[{"pedigree_reg_num": horses[(order[1] if rank == 1 else order[0]) - 1].reg,
                              "horse_name": horses[(order[1] if rank == 1 else order[0]) - 1].name}],
            time_diff=-round(behind_by_rank.get(2, 0.0), 1) if rank == 1 else round(behind, 1)))
    out.final.append(_payout(plan, n, order, frame, win, win_ranks, place, place_ranks, b_odds, q_odds, w_odds,
                             e_odds, t_odds, f_odds))
    return out


def _with_odds(shell: bytes, rtype: str, group_name: str, odds: dict[str, float]) -> bytes:
    """``shell`` with its odds group written directly: thousands of slots (an O6 of 16 horses has
    3,360) through the generic builder would make the demo slow. The slot layout comes from the
    table; the round trip tests prove the parser reads these back."""
    group = next(item for item in LAYOUTS[rtype].items if isinstance(item, Group) and item.name == group_name)
    widths = {f.name: f.length for f in group.fields}
    ranks = _ranks(odds)
    slots = []
    for combo in sorted(odds):
        tenths = round(odds[combo] * 10)
        if "min_odds" in widths:  # wide: a range
            high = round(min(9999.9, odds[combo] * 1.8) * 10)
            slot = f"{combo}{tenths:0{widths['min_odds']}d}{high:0{widths['max_odds']}d}"
        else:
            slot = f"{combo}{tenths:0{widths['odds']}d}"
        slots.append(f"{slot}{ranks[combo]:0{widths['popularity_rank']}d}".encode("ascii"))
    body = b"".join(slots) + b" " * (group.width * (group.count - len(slots)))
    return shell[:group.pos - 1] + body + shell[group.pos - 1 + group.size:]


def _day(plan: RacePlan) -> str:
    return f"{plan.race_id[:4]}-{plan.race_id[4:6]}-{plan.race_id[6:8]}"


def _minus(clock: str, minutes: int) -> str:
    h, m = divmod(int(clock[:2]) * 60 + int(clock[3:]) - minutes, 60)
    return f"{h:02d}{m:02d}"


def _race_fields(plan: RacePlan, n: int) -> dict[str, object]:
    short = (plan.name or plan.condition)
    return {
        "race_id": plan.race_id, "data_creation_date": _day(plan), "weekday_code": plan.weekday_code,
        "special_race_number": "0000", "race_name_main": plan.name, "race_short_name_10": short[:10],
        "race_short_name_6": short[:6], "race_short_name_3": short[:3], "race_name_code": "0",
        "grade_code": plan.grade_code, "race_type_code": plan.race_type_code, "race_symbol_code": "A03",
        "weight_type_code": plan.weight_type_code, "race_cond_code_2yo": plan.cond_codes[0],
        "race_cond_code_3yo": plan.cond_codes[1], "race_cond_code_4yo": plan.cond_codes[2],
        "race_cond_code_5yo_up": plan.cond_codes[3], "race_cond_code_youngest": plan.cond_codes[4],
        "race_condition_name": plan.condition, "distance": plan.distance, "track_code": plan.track_code,
        "before_track_code": "00", "course_code": plan.course_code,
        "purse_money": [*plan.purse, 0, 0], "post_time": plan.post_time, "num_entries": n, "num_starters": n,
        "weather_code": plan.weather_code, "turf_track_condition_code": plan.going_code,
        "dirt_track_condition_code": plan.going_code, "record_update_code": "0",
    }


def _winning_time(rng: random.Random, plan: RacePlan) -> float:
    per_200 = (11.9 if plan.track_code < "23" else 12.4) + int(plan.going_code or "1") * 0.08
    return round(plan.distance / 200 * per_200 + rng.uniform(-0.6, 0.6), 1)


def _race_result(rng: random.Random, plan: RacePlan, n: int) -> dict[str, object]:
    laps = plan.distance // 200
    first = round(12.0 + rng.uniform(0.0, 0.6), 1)
    lap_times = [first] + [round(11.2 + rng.uniform(0.0, 1.4), 1) for _ in range(laps - 1)]
    return {"lap_times": lap_times,
            "first_3f_time": round(sum(lap_times[:3]), 1), "first_4f_time": round(sum(lap_times[:4]), 1),
            "last_3f_time": round(sum(lap_times[-3:]), 1), "last_4f_time": round(sum(lap_times[-4:]), 1)}


_MARGINS = ("D  ", "H  ", "K  ", "012", "034", "100", "114", "112", "200", "300")  # ハナ アタマ クビ 1/2 3/4 1 ...


# Lengths behind the horse in front for each margin code; a length is about 1/6 s at racing speed.
_LENGTHS = {"D  ": 0.05, "H  ": 0.1, "K  ": 0.25, "012": 0.5, "034": 0.75, "100": 1.0, "114": 1.25, "112": 1.5,
            "200": 2.0, "300": 3.0}
SECONDS_PER_LENGTH = 1 / 6


def _margins(rng: random.Random, n: int) -> tuple[dict[int, str], dict[int, float]]:
    """Per placing: the margin code to the horse in front (none for the winner) and the seconds behind
    the winner they add up to, so finish times, time differences and margins agree."""
    margins, behind = {1: ""}, {1: 0.0}
    for rank in range(2, n + 1):
        margins[rank] = rng.choice(_MARGINS)
        behind[rank] = behind[rank - 1] + _LENGTHS[margins[rank]] * SECONDS_PER_LENGTH
    return margins, behind


def _payout(plan: RacePlan, n: int, order: list[int], frame: list[int], win: dict[int, float],
            win_ranks: dict[str, int], place: dict[int, float], place_ranks: dict[str, int],
            b_odds: dict[str, float], q_odds: dict[str, float], w_odds: dict[str, float],
            e_odds: dict[str, float], t_odds: dict[str, float], f_odds: dict[str, float]) -> bytes:
    """HR: every payout is the final odds x 100 yen of the winning combination."""
    first, second, third = order[:3]
    placed = order[:3] if n >= 8 else order[:2]

    def pair(a: int, b: int) -> str:
        return "".join(f"{h:02d}" for h in sorted((a, b)))

    def row(number: str, odds: dict[str, float]) -> dict[str, object]:
        return {"number": number, "payout": int(round(odds[number] * 100)), "popularity_rank": _ranks(odds)[number]}

    bracket = "".join(sorted(f"{frame[first - 1]}{frame[second - 1]}"))
    trio_key = "".join(f"{h:02d}" for h in sorted(order[:3]))
    fields = {
        "win_payback": [{"number": f"{first:02d}", "payout": int(round(win[first] * 100)),
                         "popularity_rank": win_ranks[str(first)]}],
        "place_payback": [{"number": f"{h:02d}", "payout": int(round(place[h] * 100)),
                           "popularity_rank": place_ranks[str(h)]} for h in placed],
        "bracket_quinella_payback": [row(bracket, b_odds)],
        "quinella_payback": [row(pair(first, second), q_odds)],
        "wide_payback": [row(pair(a, b), w_odds) for a, b in ((first, second), (first, third), (second, third))],
        "exacta_payback": [row(f"{first:02d}{second:02d}", e_odds)],
        "trio_payback": [row(trio_key, t_odds)],
        "trifecta_payback": [row(f"{first:02d}{second:02d}{third:02d}", f_odds)],
    }
    flags = {f"{bet}_{flag}": "0" for bet in ("win", "place", "bracket_quinella", "quinella", "wide", "exacta",
                                               "trio", "trifecta")
             for flag in ("cancelled_flag", "special_payout_flag", "refund_flag")}
    return build_payout(plan.race_id, data_creation_date=_day(plan), num_entries=n, num_starters=n,
                        refund_horse_number_info_28="0" * 28, refund_bracket_info="0" * 8,
                        refund_same_bracket_info="0" * 8, **flags, **fields)
