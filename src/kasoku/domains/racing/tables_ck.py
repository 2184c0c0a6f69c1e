"""Layout tables of CK (出走別着度数): the placing counts of a horse, its jockey, trainer,
owner and breeder at entry time, current (6870 bytes) and ``V4802`` (6864 bytes).

CK is 300+ documented slots in a regular pattern, so the rows are generated from name
lists here; ``tests/samples`` checks every position against ``jvdata-layouts-more.md``.
Placing counts are 6 numbers each: 1st, 2nd, 3rd, 4th, 5th, 着外.
"""

from __future__ import annotations

from kasoku.domains.racing.fields import Field, Group, Layout, code, group, jtext, num, sub

_VENUES = ("sapporo", "hakodate", "fukushima", "niigata", "tokyo", "nakayama", "chukyo", "kyoto",
           "hanshin", "kokura")
_DISTANCES = ("1200", "1201_1400", "1401_1600", "1601_1800", "1801_2000", "2001_2200", "2201_2400",
              "2401_2800", "2801")
_SURFACES = ("turf", "dirt", "obstacle")

# Horse block (28-1384): money totals (unit 100 yen), then 3-digit placing counts.
_HORSE_MONEY = ("flat_purse_total", "obstacle_purse_total", "flat_added_money_total",
                "obstacle_added_money_total", "flat_earned_money_total", "obstacle_earned_money_total")
_HORSE_COUNTS = (
    "total", "jra_total", "turf_straight", "turf_right", "turf_left", "dirt_straight", "dirt_right",
    "dirt_left", "obstacle",
    *(f"{s}_{g}" for s in _SURFACES for g in ("good", "yielding", "heavy", "soft")),
    *(f"{s}_dist_{d}" for s in ("turf", "dirt") for d in _DISTANCES),
    *(f"{v}_{s}" for s in _SURFACES for v in _VENUES),
)


def _horse_block() -> tuple[Field, ...]:
    money = tuple(num(name, 74 + 9 * n, 9) for n, name in enumerate(_HORSE_MONEY))
    counts = tuple(num(f"{name}_placing_counts", 128 + 18 * n, 3, count=6) for n, name in enumerate(_HORSE_COUNTS))
    return (code("pedigree_reg_num", 28, 10), jtext("horse_name", 38, 36), *money, *counts,
            num("running_style_counts", 1370, 3, count=4), num("registered_race_count", 1382, 3))


def _person_stats(name: str, pos: int) -> Group:
    """Jockey or trainer 成績: 2 x 1220 B ([0] this year, [1] career with year 0000)."""
    subs: list[tuple[int, Field]] = [sub(0, num("year", 0, 4))]
    for n, money in enumerate(("flat_prize_money", "obstacle_prize_money", "flat_added_money",
                               "obstacle_added_money")):
        subs.append(sub(4 + 10 * n, num(money, 0, 10)))
    subs += [sub(44, num("turf_placing_counts", 0, 5, count=6)), sub(74, num("dirt_placing_counts", 0, 5, count=6)),
             sub(104, num("obstacle_placing_counts", 0, 4, count=6))]
    off = 128
    for label in (*(f"{s}_dist_{d}" for s in ("turf", "dirt") for d in _DISTANCES),
                  *(f"{v}_{s}" for s in ("turf", "dirt") for v in _VENUES)):
        subs.append(sub(off, num(f"{label}_placing_counts", 0, 4, count=6)))
        off += 24
    for v in _VENUES:
        subs.append(sub(off, num(f"{v}_obstacle_placing_counts", 0, 3, count=6)))
        off += 18
    return group(name, pos, 2440, 2, 1220, *subs)


def _business_stats(name: str, pos: int) -> Group:
    """Owner or breeder 成績: 2 x 60 B (money in 100 yen, 6-digit placing counts)."""
    return group(name, pos, 120, 2, 60, sub(0, num("year", 0, 4)), sub(4, num("prize_money", 0, 10)),
                 sub(14, num("added_money", 0, 10)), sub(24, num("placing_counts", 0, 6, count=6)))


_UP_TO_BREEDER = (
    *_horse_block(),
    code("jockey_code", 1385, 5), jtext("jockey_name", 1390, 34),
    _person_stats("jockey_performance_stats", 1424),
    code("trainer_code", 3864, 5), jtext("trainer_name", 3869, 34),
    _person_stats("trainer_performance_stats", 3903),
    code("owner_code", 6343, 6), jtext("owner_name_with_corp", 6349, 64), jtext("owner_name_individual", 6413, 64),
    _business_stats("owner_performance_stats", 6477),
)

CK = Layout("CK", 6870, (
    *_UP_TO_BREEDER,
    code("breeder_code", 6597, 8), jtext("breeder_name_with_corp", 6605, 72),
    jtext("breeder_name_individual", 6677, 72), _business_stats("breeder_performance_stats", 6749),
))

# Legacy SNAP: 6-digit breeder code and 70-byte breeder names; bytes 1-6596 as CK.
CK_V4802 = Layout("CK", 6864, (
    *_UP_TO_BREEDER,
    code("breeder_code", 6597, 6), jtext("breeder_name_with_corp", 6603, 70),
    jtext("breeder_name_individual", 6673, 70), _business_stats("breeder_performance_stats", 6743),
), "V4802")
