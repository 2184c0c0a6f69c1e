"""A deterministic racing demo: a few race days built with the record builder as raw JV-Data
records, imported into the lake by the real importer (``lake_import.import_records``).

Two meetings (Tokyo 3rd, Hanshin 2nd) over three days (Sat 1 June, Sun 2 June, Sat 8 June
2024), 8 races a day each. Per race one field of horses runs through every record: RA and SE
(entry list, data_code 2; final results, 7), WH (weights, with the horse names), O1-O6 (the
same horse numbers and entry counts in every odds record) and HR (payouts = the final odds of
the winning combinations). Results follow the odds: one strength per horse makes both; finish
times, time differences and margin codes agree with the placings. Each meeting has its own 20
jockeys (a jockey rides at one racecourse a day; Tokyo's from 美浦, Hanshin's from 栗東), and every
code is filled where JV-Data fills it (tests/unit/racing_domain/test_demo_looks_real.py checks
these properties on the lake).

Stored: RACE (RA SE HR O1 O2), YSCH (YS), DIFF (UM KS CH). Realtime, per race: 0B11 (WH),
0B12 (RA SE HR, final), 0B15 (RA SE, entry list), 0B31-0B36 (O1-O6). O3-O6 are realtime only
to keep the demo's RACE fetch small (an O6 holds up to 4,896 trifecta odds).
Everything comes from one seeded ``random.Random``: the same seed gives byte-identical files.
Names are invented (``demo_names``); no real record is copied.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kasoku.domains.racing.builder import build_horse, build_jockey, build_schedule, build_trainer
from kasoku.domains.racing.demo_names import Person, breeder, breeder_code, horse_name, owner, people, silks
from kasoku.domains.racing.demo_race import Horse, RacePlan, race_records

if TYPE_CHECKING:
    from kasoku.domains.racing.lake_import import LakeImportSummary
    from kasoku.lake.ducklake import Lake

RACE_DAYS = ("20240601", "20240602", "20240608")
COURSES = (("05", "03"), ("09", "02"))  # (racecourse code, kaiji): Tokyo 3rd meet, Hanshin 2nd meet
RACES_PER_DAY = 8
JOCKEYS_PER_COURSE = 20  # a full field is 16
SPECS = ("RACE", "YSCH", "DIFF", "0B11", "0B12", "0B15", "0B31", "0B32", "0B33", "0B34", "0B35", "0B36")
_WEEKDAY = {5: "1", 6: "2"}  # JV-Data 曜日コード: 1 土, 2 日 (3 祝日, 4 月 ... 8 金)
_TRACKS = {"05": ("11", "23"), "09": ("17", "24")}  # turf, dirt: Tokyo left-handed, Hanshin right-handed
_SPECIALS = ("由比ヶ浜特別", "青梅特別", "八王子特別", "三田特別", "甲南ステークス", "リボン賞")
# (condition name, race type, condition codes 2yo/3yo/4yo/5yo+/youngest, weight type, purse in 100 yen)
_CLASSES = (
    ("２歳新馬", "11", ("701", "000", "000", "000", "701"), "3", (72000, 29000, 18000, 11000, 7200)),
    ("３歳未勝利", "12", ("000", "703", "000", "000", "703"), "3", (55000, 22000, 14000, 8300, 5500)),
    ("３歳以上１勝クラス", "13", ("000", "005", "005", "005", "005"), "4", (78000, 31000, 20000, 12000, 7800)),
    ("３歳以上２勝クラス", "13", ("000", "010", "010", "010", "010"), "4", (110000, 44000, 28000, 17000, 11000)),
    ("３歳以上３勝クラス", "13", ("000", "016", "016", "016", "016"), "4", (150000, 60000, 38000, 23000, 15000)),
)


@dataclass
class DemoData:
    """What was generated: the raw records per target dataspec and a few keys to show example URLs."""

    race_ids: list[str] = field(default_factory=list)
    horse_ids: list[str] = field(default_factory=list)
    jockey_ids: list[str] = field(default_factory=list)
    trainer_ids: list[str] = field(default_factory=list)
    files: dict[str, list[bytes]] = field(default_factory=dict)


def generate(seed: int = 2024, *, races_per_day: int = RACES_PER_DAY) -> DemoData:
    """All records by target dataspec (no files written); ``races_per_day`` < 8 makes a smaller
    demo (tests), whose last race is still the day's special."""
    rng = random.Random(seed)
    demo = DemoData()
    files: dict[str, list[bytes]] = {s: [] for s in SPECS}
    # A jockey rides at one racecourse a day: each meeting has its own jockeys (Tokyo's from 美浦,
    # Hanshin's from 栗東), enough for a full field of 16. Every third one is attached to a
    # trainer's stable of his centre; the others are freelance (所属調教師コード 00000, as in real KS).
    jockeys = people(rng, JOCKEYS_PER_COURSE * len(COURSES), 1001)
    jockeys_at = {course: jockeys[i * JOCKEYS_PER_COURSE:(i + 1) * JOCKEYS_PER_COURSE]
                  for i, (course, _kaiji) in enumerate(COURSES)}
    trainers = people(rng, 16, 1101)
    created = "2024-05-30"
    for i, (course, _kaiji) in enumerate(COURSES):
        centre = str(i + 1)  # 1 美浦 (east: Tokyo), 2 栗東 (west: Hanshin)
        stables = [t for t in trainers if _affiliation(t) == centre]
        for n, person in enumerate(jockeys_at[course]):
            stable = stables[n % len(stables)] if n % 3 == 0 else None
            files["DIFF"].append(_jockey_record(person, rng, created, centre, stable))
    for person in trainers:
        files["DIFF"].append(_trainer_record(person, rng, created))
    horses: list[Horse] = []
    names: set[str] = set()
    for day_index, day in enumerate(RACE_DAYS):
        date = dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
        for course, kaiji in COURSES:
            nichiji = f"{day_index + 1:02d}"
            weather = rng.choice("1112")
            going = rng.choice("1112") if weather == "1" else rng.choice("23")
            files["YSCH"].append(build_schedule(f"{day}{course}{kaiji}{nichiji}", weekday_code=_WEEKDAY[date.weekday()]))
            for race_no in range(RACES_PER_DAY - races_per_day + 1, RACES_PER_DAY + 1):
                race_id = f"{day}{course}{kaiji}{nichiji}{race_no:02d}"
                demo.race_ids.append(race_id)
                plan = _plan(rng, race_id, race_no, date, course, weather, going)
                runners = rng.randint(10, 16)
                field_ = [_horse(rng, names, trainers, plan, len(horses) + i + 1) for i in range(runners)]
                horses += field_
                records = race_records(rng, plan, field_, rng.sample(jockeys_at[course], runners))
                files["RACE"] += [*records.final, records.odds["O1"], records.odds["O2"]]
                files["0B11"].append(records.weights)
                files["0B12"] += records.final
                files["0B15"] += records.entries_early
                for n, rtype in enumerate(("O1", "O2", "O3", "O4", "O5", "O6"), start=1):
                    files[f"0B3{n}"].append(records.odds[rtype])
    for horse in horses:
        files["DIFF"].append(_horse_record(horse, created))
    demo.horse_ids = [h.reg for h in horses[:3]]
    demo.jockey_ids = [j.code for j in jockeys[:3]]
    demo.trainer_ids = [t.code for t in trainers[:3]]
    demo.files = files
    return demo


def _plan(rng: random.Random, race_id: str, race_no: int, date: dt.date, course: str, weather: str,
          going: str) -> RacePlan:
    special = race_no == RACES_PER_DAY
    condition, race_type, codes, weight_type, purse = _CLASSES[
        4 if special else (0 if race_no == 3 else 1 if race_no <= 2 else 2 if race_no <= 5 else 3)]
    turf = special or race_no % 2 == 0
    distance = rng.choice((1400, 1600, 1800, 2000, 2400) if turf else (1200, 1400, 1600, 1800))
    minutes = 9 * 60 + 50 + (race_no - 1) * 35
    return RacePlan(
        race_id=race_id, weekday_code=_WEEKDAY[date.weekday()], name=rng.choice(_SPECIALS) if special else "",
        condition=condition, grade_code="E" if special else "", race_type_code=race_type, cond_codes=codes,
        weight_type_code=weight_type, distance=distance, track_code=_TRACKS[course][0 if turf else 1],
        course_code=rng.choice("ABC") if turf else "", post_time=f"{minutes // 60:02d}:{minutes % 60:02d}",
        purse=purse, weather_code=weather, going_code=going)


def _horse(rng: random.Random, names: set[str], trainers: list[Person], plan: RacePlan, serial: int) -> Horse:
    age = _age(rng, plan.race_type_code)
    born = 2024 - age
    trainer = rng.choice(trainers)
    farm, place = breeder(rng)
    return Horse(
        reg=_reg(born, serial), name=horse_name(rng, names), sex_code=rng.choice("1112"),
        age=age, coat_code=rng.choice(("01", "03", "03", "04", "05", "07")),
        birth_date=f"{born}-{rng.randint(2, 5):02d}-{rng.randint(1, 28):02d}", trainer=trainer,
        affiliation=_affiliation(trainer), owner_code=f"{rng.randint(1, 9999):06d}",
        owner_name=owner(rng), silks=silks(rng), breeder=farm, birthplace=place,
        body_weight=rng.randint(430, 520) // 2 * 2, sire=horse_name(rng, names), dam=horse_name(rng, names))


def _age(rng: random.Random, race_type_code: str) -> int:
    return 2 if race_type_code == "11" else 3 if race_type_code == "12" else rng.choice((3, 4, 4, 5, 6))


def _reg(born: int, serial: int) -> str:
    """血統登録番号: birth year + a serial (the first horse of the demo is known without generating it)."""
    return f"{born}1{serial:05d}"


def _affiliation(person: Person) -> str:
    """東西所属コード of a trainer: 1 美浦 (odd codes), 2 栗東 (even)."""
    return "1" if int(person.code) % 2 else "2"


def _dates(rng: random.Random) -> tuple[str, str]:
    born = f"{rng.randint(1965, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return born, f"{int(born[:4]) + rng.randint(18, 25)}-03-01"


def _jockey_record(person: Person, rng: random.Random, created: str, centre: str, stable: Person | None) -> bytes:
    born, licensed = _dates(rng)
    return build_jockey(person.code, person.name, data_creation_date=created, jockey_name_short=person.short,
                        birth_date=born, license_issue_date=licensed, deregistration_flag="0", sex_code="1",
                        riding_qualification_code="1", jockey_apprentice_code="0", affiliation_code=centre,
                        affiliated_trainer_code=stable.code if stable else "00000",
                        affiliated_trainer_name_short=stable.short if stable else "")


def _trainer_record(person: Person, rng: random.Random, created: str) -> bytes:
    born, licensed = _dates(rng)
    return build_trainer(person.code, person.name, data_creation_date=created, trainer_name_short=person.short,
                         birth_date=born, license_issue_date=licensed, deregistration_flag="0", sex_code="1",
                         affiliation_code=_affiliation(person))


def _horse_record(horse: Horse, created: str) -> bytes:
    return build_horse(horse.reg, horse.name, data_creation_date=created, deregistration_flag="0",
                       registration_date=f"{int(horse.birth_date[:4]) + 2}-04-{int(horse.reg[-2:]) % 28 + 1:02d}",
                       jra_facility_flag="0", birth_date=horse.birth_date, horse_symbol_code="00", sex_code=horse.sex_code, breed_code="1",
                       coat_color_code=horse.coat_code, affiliation_code=horse.affiliation,
                       trainer_code=horse.trainer.code, trainer_name_short=horse.trainer.short,
                       breeder_code=breeder_code(horse.breeder), breeder_name=horse.breeder,
                       birthplace_name=horse.birthplace, owner_code=horse.owner_code,
                       owner_name=horse.owner_name,
                       pedigree_3gen=[{"breeding_reg_num": f"11{abs(hash_code(horse.sire)):08d}",
                                       "horse_name": horse.sire},
                                      {"breeding_reg_num": f"12{abs(hash_code(horse.dam)):08d}",
                                       "horse_name": horse.dam}])


def hash_code(name: str) -> int:
    """A stable 8-digit number for an invented name (never the built-in ``hash``, which varies)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) * 7919 % 10**8


def write_demo_files(directory: Path, demo: DemoData) -> dict[str, Path]:
    """The demo's records as raw JV-Data files, one per target dataspec (``<directory>/<SPEC>.jvd``),
    for ``kasoku racing import FILE --dataspec SPEC``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for spec, records in demo.files.items():
        out[spec] = directory / f"{spec}.jvd"
        out[spec].write_bytes(b"".join(records))
    return out


# The order JV-Link delivers a meeting in: masters and the schedule, then the entry lists (速報
# 出馬表), weights and odds, then the final results (0B12 速報成績, RACE 確定). Records of one
# key share a creation date in the demo, so the later record in this order wins in the lake.
DELIVERY_ORDER = ("DIFF", "YSCH", "0B15", "0B11", "0B31", "0B32", "0B33", "0B34", "0B35", "0B36", "0B12", "RACE")


def delivery_order(demo: DemoData) -> list[bytes]:
    """Every demo record once per dataspec, in :data:`DELIVERY_ORDER`."""
    return [r for spec in DELIVERY_ORDER for r in demo.files.get(spec, [])]


def import_demo_lake(lake: "Lake", *, seed: int = 2024, demo: DemoData | None = None) -> "LakeImportSummary":
    """The demo's racing days as lake tables, and its raw records for the replay (what ``kasoku
    racing import`` does with the same records, each under its dataspec)."""
    from kasoku.domains.racing.lake_import import import_records, targets_of

    demo = demo or generate(seed)
    targets = [t for spec in DELIVERY_ORDER for t in targets_of(demo.files.get(spec, []), spec)]
    return import_records(lake, delivery_order(demo), targets=targets, message="racing demo import")


def example_paths(seed: int = 2024) -> list[str]:
    """A few URLs that answer from the demo lake (cheap: computes the first ids, writes nothing).
    The first race of the demo is a 3-year-old maiden race, so its first horse is born in 2021."""
    race = f"{RACE_DAYS[0]}{COURSES[0][0]}{COURSES[0][1]}0101"
    return [f"/api/v1/data/RACE?from_time={RACE_DAYS[0]}&to_time={RACE_DAYS[0]}&limit=5",
            f"/api/v1/realtime/odds/{race}?type=win", f"/api/v1/realtime/odds/{race}?type=trifecta",
            f"/api/v1/realtime/weight/{race}", f"/api/v1/master/horse/{_reg(2021, 1)}",
            "/api/v1/master/jockey/01001", "/api/v1/tables", f"/api/v1/races/{race}",
            f"/api/v1/tables/se?start={RACE_DAYS[0]}&end={RACE_DAYS[-1]}&columns=race_id,horse_name,finish_order&limit=5",
            f"/api/v1/schedule?from_date={RACE_DAYS[0]}&to_date={RACE_DAYS[-1]}&jyo_cd=05", "/status"]


def race_days() -> list[dt.date]:
    return [dt.date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in RACE_DAYS]
