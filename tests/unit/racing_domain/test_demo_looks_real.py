"""The racing demo looks like racing, checked where users read it: the lake's tables and views.

One property per test (issue 15): plausible names, every code filled, one set of horses per race
across RA/SE/O1–O6/HR/WH (and the masters), results consistent with the odds, a few meetings
across several days."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kasoku.domains.racing.demo import DemoData, generate, import_demo_lake
from kasoku.lake.ducklake import ALIAS, Lake

KATAKANA = re.compile(r"[ァ-ヴー]{2,9}")  # JRA: 2 to 9 katakana
KANJI_PERSON = re.compile(r"[一-龥]{1,3}\u3000[一-龥]{1,2}")  # family U+3000 given, as KS/CH hold it


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate(races_per_day=4)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory, demo: DemoData) -> Iterator[duckdb.DuckDBPyConnection]:
    lake = Lake(str(Path(tmp_path_factory.mktemp("demo-real")) / "lake"))
    import_demo_lake(lake, demo=demo)
    c = lake.connect(read_only=True)
    yield c
    c.close()


def q(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql.replace("lake.", f"{ALIAS}.")).fetchall()


def test_names_are_plausible(con: duckdb.DuckDBPyConnection) -> None:
    horses = [n for (n,) in q(con, "SELECT horse_name FROM lake.um")]
    assert horses and all(KATAKANA.fullmatch(n) for n in horses), [n for n in horses if not KATAKANA.fullmatch(n)]
    assert len(set(horses)) == len(horses)  # no two horses share a name
    parents = q(con, "SELECT sire_name, dam_name FROM lake.horses")
    assert all(KATAKANA.fullmatch(s) and KATAKANA.fullmatch(d) for s, d in parents)
    for table, column in (("ks", "jockey_name"), ("ch", "trainer_name")):
        names = [n for (n,) in q(con, f"SELECT {column} FROM lake.{table}")]
        assert names and all(KANJI_PERSON.fullmatch(n) for n in names), (table, names[:3])
        assert len(set(names)) == len(names)
    shorts = q(con, "SELECT jockey_short_name, trainer_short_name, owner_name_individual, silk_colors FROM lake.se")
    assert all(j and t and o and s and len(j) <= 4 and len(t) <= 4 for j, t, o, s in shorts)
    assert all(name and place for name, place in q(con, "SELECT breeder_name, birthplace_name FROM lake.um"))
    specials = [n for (n,) in q(con, "SELECT race_name FROM lake.races WHERE grade_code <> ''")]
    assert specials and all(n.endswith(("特別", "ステークス", "賞")) for n in specials)


# Blanks JV-Data itself has (the real samples show them): no change announced (変更前…), a plain
# race has no grade, a dirt course no rail position (A/B/C), the winner no margin.
ALLOWED_BLANK = {("ra", "before_grade_code"): "true", ("ra", "before_course_code"): "true",
                 ("ra", "grade_code"): "race_name_main = ''", ("ra", "course_code"): "track_code >= '23'",
                 ("se", "margin_code"): "confirmed_placing = 1"}
TABLES = ("ra", "se", "hr", "o1", "o2", "o3", "o4", "o5", "o6", "wh", "ys", "um", "ks", "ch")


def test_every_code_is_filled(con: duckdb.DuckDBPyConnection) -> None:
    checked = 0
    for table in TABLES:
        rows = q(con, f"SELECT count(*) FROM lake.{table}")[0][0]
        assert rows, f"the demo has no {table} records"
        for column, kind in q(con, f"SELECT column_name, column_type FROM (DESCRIBE lake.{table})"):
            if not column.endswith("_code") or kind != "VARCHAR":
                continue
            allowed = ALLOWED_BLANK.get((table, column), "false")
            blank = q(con, f"SELECT count(*) FROM lake.{table} WHERE coalesce(trim({column}), '') = '' "
                           f"AND NOT ({allowed})")[0][0]
            assert blank == 0, f"{table}.{column} is blank in {blank} of {rows} records"
            checked += 1
    assert checked > 60
    assert q(con, "SELECT DISTINCT weekday_code FROM lake.races ORDER BY 1") == [("1",), ("2",)]


def test_one_set_of_horses_per_race_across_every_record(con: duckdb.DuckDBPyConnection) -> None:
    races = q(con, "SELECT race_id, num_entries, num_starters, num_finishers FROM lake.races")
    entries = {r: (n, s, f) for r, n, s, f in races}
    numbers = {race: sorted(h for (h,) in q(con, f"SELECT horse_number FROM lake.entries WHERE race_id = '{race}'"))
               for race in entries}
    for race, (n, starters, finishers) in entries.items():
        assert numbers[race] == list(range(1, n + 1)) and n == starters == finishers, race
    # every odds table names exactly the race's horses, each bet's combinations over all of them
    for bet, size in (("win", 1), ("place", 1), ("quinella", 2), ("wide", 2), ("exacta", 2), ("trio", 3),
                      ("trifecta", 3)):
        for race, n in ((r, v[0]) for r, v in entries.items()):
            combos = [c for (c,) in q(con, f"SELECT combination FROM lake.odds WHERE race_id = '{race}' "
                                           f"AND bet_type = '{bet}'")]
            horses = {int(c[i:i + 2]) for c in combos for i in range(0, 2 * size, 2)}
            assert horses == set(range(1, n + 1)), (race, bet)
            expected = {1: n, 2: n * (n - 1) // (1 if bet == "exacta" else 2),
                        3: n * (n - 1) * (n - 2) // (1 if bet == "trifecta" else 6)}[size]
            assert len(combos) == expected, (race, bet)
    assert q(con, "SELECT count(*) FROM lake.o1 o JOIN lake.ra r USING (race_id) "
                  "WHERE o.num_entries <> r.num_entries OR o.num_starters <> r.num_starters") == [(0,)]
    for other in ("o2", "o3", "o4", "o5", "o6"):
        assert q(con, f"SELECT count(*) FROM lake.{other} o JOIN lake.ra r USING (race_id) "
                      "WHERE o.num_entries <> r.num_entries") == [(0,)], other
    # weights name the same horses by number; payouts pay horses of the race
    mismatched = q(con, """
        SELECT count(*) FROM (SELECT race_id, unnest(horse_weight_infos, recursive := true) FROM lake.wh) w
        LEFT JOIN lake.se s ON s.race_id = w.race_id AND s.horse_number = w.horse_number
        WHERE s.horse_name IS DISTINCT FROM w.horse_name OR s.horse_weight IS DISTINCT FROM w.horse_weight""")
    assert mismatched == [(0,)]
    winners = q(con, "SELECT p.race_id, p.combination FROM lake.payouts p WHERE bet_type = 'win'")
    assert all(int(c) in numbers[r] for r, c in winners) and len(winners) == len(entries)
    # the masters: the same horse (name, trainer), jockeys and trainers that exist
    assert q(con, """SELECT count(*) FROM lake.se s LEFT JOIN lake.um u USING (pedigree_reg_num)
                     WHERE u.horse_name IS DISTINCT FROM s.horse_name OR u.trainer_code <> s.trainer_code""") == [(0,)]
    assert q(con, "SELECT count(*) FROM lake.se WHERE jockey_code NOT IN (SELECT jockey_code FROM lake.ks) "
                  "OR trainer_code NOT IN (SELECT trainer_code FROM lake.ch)") == [(0,)]
    # a horse runs once a day, a jockey rides at one racecourse a day
    assert q(con, "SELECT count(*) FROM (SELECT pedigree_reg_num FROM lake.entries "
                  "GROUP BY pedigree_reg_num, race_date HAVING count(*) > 1)") == [(0,)]
    assert q(con, "SELECT count(*) FROM (SELECT jockey_code FROM lake.entries "
                  "GROUP BY jockey_code, race_date HAVING count(DISTINCT racecourse_code) > 1)") == [(0,)]
    assert q(con, "SELECT count(*) FROM (SELECT jockey_code FROM lake.entries "
                  "GROUP BY jockey_code, race_id HAVING count(*) > 1)") == [(0,)]


def test_results_follow_the_odds(con: duckdb.DuckDBPyConnection) -> None:
    # every payout is 100 yen times the final odds of the winning combination (place, wide: the lower bound)
    unpaid = q(con, """SELECT p.race_id, p.bet_type, p.combination, p.payout, o.odds FROM lake.payouts p
                       LEFT JOIN lake.odds o USING (race_id, bet_type, combination)
                       WHERE o.odds IS NULL OR p.payout <> round(o.odds * 100)""")
    assert unpaid == []
    # the winner, quinella and trifecta are the first horses of the result
    wrong = q(con, """
        WITH top AS (SELECT race_id, list(lpad(horse_number::VARCHAR, 2, '0') ORDER BY confirmed_placing) AS h
                     FROM lake.entries WHERE confirmed_placing <= 3 GROUP BY race_id)
        SELECT p.race_id, p.bet_type FROM lake.payouts p JOIN top USING (race_id)
        WHERE (bet_type = 'win' AND combination <> h[1])
           OR (bet_type = 'exacta' AND combination <> h[1] || h[2])
           OR (bet_type = 'trifecta' AND combination <> h[1] || h[2] || h[3])""")
    assert wrong == []
    # favourites win more often than outsiders, not always
    winner, field, favourites = q(con, """
        SELECT avg(win_popularity_rank) FILTER (WHERE confirmed_placing = 1), avg(win_popularity_rank),
               avg((win_popularity_rank = 1)::INT) FILTER (WHERE confirmed_placing = 1) FROM lake.entries""")[0]
    assert winner < field - 1.5 and 0 < favourites < 0.8
    # each entry's win odds and popularity are the O1's; finish times grow with the placing
    assert q(con, """SELECT count(*) FROM lake.entries e JOIN lake.odds o ON o.race_id = e.race_id
                     AND o.bet_type = 'win' AND o.combination = lpad(e.horse_number::VARCHAR, 2, '0')
                     WHERE o.odds <> e.win_odds OR o.popularity <> e.win_popularity_rank""") == [(0,)]
    assert q(con, """SELECT count(*) FROM (SELECT finish_time < lag(finish_time) OVER w AS faster,
                                                  time_diff < lag(time_diff) OVER w AS less_behind
                                           FROM lake.entries WINDOW w AS (PARTITION BY race_id ORDER BY confirmed_placing))
                     WHERE faster OR less_behind""") == [(0,)]


def test_a_few_meetings_across_several_days(con: duckdb.DuckDBPyConnection) -> None:
    days = q(con, "SELECT DISTINCT race_date FROM lake.races ORDER BY 1")
    assert len(days) >= 3 and (days[-1][0] - days[0][0]).days >= 7  # two weekends
    per_day = q(con, "SELECT race_date, count(DISTINCT racecourse_code) FROM lake.races GROUP BY 1")
    assert all(courses >= 2 for _day, courses in per_day)
    weekdays = q(con, "SELECT DISTINCT race_date, weekday_code FROM lake.races")
    assert all({5: "1", 6: "2"}[day.weekday()] == code for day, code in weekdays)  # Saturday 1, Sunday 2
    # the schedule (YS) lists every meeting day that has races, and the meeting's days count up
    schedule = set(q(con, "SELECT race_date, racecourse_code, meet_round, meet_day FROM lake.ys"))
    meetings = set(q(con, "SELECT DISTINCT race_date, racecourse_code, meet_round, meet_day FROM lake.races"))
    assert meetings == schedule
    for (course,) in q(con, "SELECT DISTINCT racecourse_code FROM lake.races"):
        by_day = q(con, f"SELECT DISTINCT race_date, meet_day FROM lake.races WHERE racecourse_code = '{course}' "
                        "ORDER BY 1")
        assert [d for _day, d in by_day] == sorted({d for _day, d in by_day}) and len(by_day) == len(days)
    # a card per meeting day: consecutive race numbers ending with the day's main race, post times in order
    cards = q(con, """SELECT race_date, racecourse_code, list(race_number ORDER BY race_number),
                             list(post_time ORDER BY race_number) FROM lake.races GROUP BY 1, 2""")
    for _day, _course, numbers, posts in cards:
        assert numbers == list(range(numbers[0], numbers[-1] + 1)) and posts == sorted(posts)
    assert all(isinstance(d, dt.date) for (d,) in days)
