"""A deterministic demo JV-Data archive: a few race days built with the record builder,
written as raw JV-Data files and imported by the real importer (``archive.import_files``).

Stored: RACE (RA, SE, HR, O1, O2), YSCH (YS), DIFF (UM, KS, CH). Realtime, per race:
0B11 (WH), 0B12 (RA SE HR, final), 0B15 (RA SE, entry list), 0B31 (O1), 0B32 (O2).
Everything comes from one seeded ``random.Random``: the same seed gives byte-identical files.
Names are invented (katakana horse names, kanji person names); no real record is copied.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kasoku.domains.racing.archive import ImportSummary, import_files
from kasoku.domains.racing.builder import (
    build_entry,
    build_horse,
    build_jockey,
    build_payout,
    build_quinella_odds,
    build_race,
    build_schedule,
    build_trainer,
    build_weights,
    build_win_odds,
)

RACE_DAYS = ("20240601", "20240602", "20240608")
COURSES = (("05", "03"), ("09", "02"))  # (racecourse code, kaiji): Tokyo 3rd meet, Hanshin 2nd meet
RACES_PER_DAY = 8
_SYLLABLES = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
_FAMILY = ("田中", "佐藤", "鈴木", "高橋", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田")
_GIVEN = ("一郎", "健", "翔", "誠", "大輔", "拓也", "豊", "勇", "亮", "学")
_RACE_NAMES = ("未勝利", "１勝クラス", "２勝クラス", "３勝クラス", "オープン", "新馬")


@dataclass
class DemoArchive:
    """What was generated: counts per dataspec and a few keys to show example URLs."""

    archive: Path
    race_ids: list[str] = field(default_factory=list)
    horse_ids: list[str] = field(default_factory=list)
    jockey_ids: list[str] = field(default_factory=list)
    trainer_ids: list[str] = field(default_factory=list)
    files: dict[str, list[bytes]] = field(default_factory=dict)
    summary: ImportSummary | None = None


def _katakana(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(4, 9)))


def _person(rng: random.Random) -> str:
    return rng.choice(_FAMILY) + rng.choice(_GIVEN)


def generate(seed: int = 2024) -> DemoArchive:
    """All records by target dataspec (no files written)."""
    rng = random.Random(seed)
    demo = DemoArchive(Path("."))
    files: dict[str, list[bytes]] = {s: [] for s in ("RACE", "YSCH", "DIFF", "0B11", "0B12", "0B15", "0B31", "0B32")}
    jockeys = [(f"{1000 + i:05d}", _person(rng)) for i in range(24)]
    trainers = [(f"{2000 + i:05d}", _person(rng)) for i in range(16)]
    horses: list[tuple[str, str]] = []
    created = "2024-05-30"
    for code, name in jockeys:
        files["DIFF"].append(build_jockey(code, name, data_creation_date=created, jockey_name_short=name[:4]))
    for code, name in trainers:
        files["DIFF"].append(build_trainer(code, name, data_creation_date=created, trainer_name_short=name[:4]))
    for day_index, day in enumerate(RACE_DAYS):
        for course, kaiji in COURSES:
            nichiji = f"{day_index + 1:02d}"
            files["YSCH"].append(build_schedule(f"{day}{course}{kaiji}{nichiji}"))
            for race_no in range(1, RACES_PER_DAY + 1):
                race_id = f"{day}{course}{kaiji}{nichiji}{race_no:02d}"
                demo.race_ids.append(race_id)
                _race(rng, race_id, race_no, jockeys, trainers, horses, files)
    for reg, name in horses:
        files["DIFF"].append(build_horse(reg, name, data_creation_date=created))
    demo.horse_ids = [h for h, _ in horses[:3]]
    demo.jockey_ids = [j for j, _ in jockeys[:3]]
    demo.trainer_ids = [t for t, _ in trainers[:3]]
    demo.files = files
    return demo


def _race(rng: random.Random, race_id: str, race_no: int, jockeys: list[tuple[str, str]],
          trainers: list[tuple[str, str]], horses: list[tuple[str, str]], files: dict[str, list[bytes]]) -> None:
    runners = rng.randint(10, 16)
    distance = rng.choice((1200, 1400, 1600, 1800, 2000, 2400))
    post = f"{9 + (race_no * 35 + 50) // 60:02d}:{(race_no * 35 + 50) % 60:02d}"
    name = rng.choice(_RACE_NAMES)
    final = build_race(race_id, name, distance, post_time=post, num_entries=runners, track_code="11")
    runner_fields: dict[int, tuple[str, dict[str, object]]] = {}
    entries_early: list[bytes] = []
    for number in range(1, runners + 1):
        reg = f"20{rng.randint(19, 21)}{rng.randint(100000, 999999)}"
        horse_name = _katakana(rng)
        horses.append((reg, horse_name))
        jockey = rng.choice(jockeys)
        trainer = rng.choice(trainers)
        common = {"jockey_code": jockey[0], "jockey_name": jockey[1][:4], "trainer_code": trainer[0],
                  "trainer_name": trainer[1][:4], "pedigree_reg_num": reg,
                  "bracket_number": min(8, (number + 1) // 2)}
        runner_fields[number] = (horse_name, common)
        entries_early.append(build_entry(race_id, number, horse_name, data_code="2", **common))
    strength = {n: rng.uniform(0.5, 3.0) for n in range(1, runners + 1)}
    total = sum(strength.values())
    win = {n: round(max(1.1, 0.8 * total / s), 1) for n, s in strength.items()}
    pairs = {(a, b): round(min(9999.9, win[a] * win[b] / 2.5), 1)
             for a in range(1, runners + 1) for b in range(a + 1, runners + 1)}
    order = sorted(win, key=lambda n: win[n] * rng.uniform(0.5, 1.5))
    first, second, third = order[0], order[1], order[2]
    payout = build_payout(race_id, win={first: int(win[first] * 100)},
                          place={first: 110 + rng.randint(0, 300), second: 120 + rng.randint(0, 500),
                                 third: 130 + rng.randint(0, 700)},
                          quinella={tuple(sorted((first, second))): int(pairs[tuple(sorted((first, second)))] * 100)})
    o1 = build_win_odds(race_id, win)
    o2 = build_quinella_odds(race_id, pairs)
    body_kg = {n: rng.randint(420, 540) for n in range(1, runners + 1)}
    weights = build_weights(race_id, body_kg, changes={n: rng.randint(-8, 8) for n in range(1, runners + 1)})
    # The final entries carry the result (a race card shows it); drawn from a generator of the
    # race's own so the shared sequence, and every other generated record, stays as it was.
    extra = random.Random(race_id)
    popularity = {n: rank for rank, n in enumerate(sorted(win, key=lambda h: (win[h], h)), start=1)}
    entries_final = [build_entry(race_id, n, horse_name, carrying_weight=extra.choice((54.0, 55.0, 56.0, 57.0, 58.0)),
                                 horse_weight=body_kg[n], finish_order=order.index(n) + 1,
                                 confirmed_placing=order.index(n) + 1, win_odds=win[n],
                                 win_popularity_rank=popularity[n], **common)
                     for n, (horse_name, common) in runner_fields.items()]
    files["RACE"] += [final, *entries_final, payout, o1, o2]
    files["0B11"].append(weights)
    files["0B12"] += [final, *entries_final, payout]
    files["0B15"] += [build_race(race_id, name, distance, post_time=post, num_entries=runners, data_code="2"),
                      *entries_early]
    files["0B31"].append(o1)
    files["0B32"].append(o2)


def build_demo_archive(directory: Path, *, seed: int = 2024,
                       progress: Callable[[int, int, Path], None] | None = None) -> DemoArchive:
    """Write the generated records as JV-Data files under ``directory/jvdata`` and import them
    into ``directory/archive`` with the real importer (one import per target dataspec)."""
    demo = generate(seed)
    source_dir = directory / "jvdata"
    source_dir.mkdir(parents=True, exist_ok=True)
    demo.archive = directory / "archive"
    files = records_total = duplicates = 0
    by_spec: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for spec, records in demo.files.items():
        path = source_dir / f"{spec}.jvd"
        path.write_bytes(b"".join(records))
        got = import_files([path], demo.archive, dataspec=spec, progress=progress)
        files += got.files
        records_total += got.records
        duplicates += got.duplicates
        by_spec.update(got.by_dataspec)
        for rtype, n in got.by_record_type.items():
            by_type[rtype] = by_type.get(rtype, 0) + n
    total = ImportSummary(files=files, records=records_total, by_dataspec=by_spec, by_record_type=by_type,
                          duplicates=duplicates)
    demo.summary = total
    return demo


def example_paths(seed: int = 2024) -> list[str]:
    """A few URLs that answer from the demo archive (cheap: regenerates ids, writes nothing)."""
    demo = generate(seed)
    race = demo.race_ids[0]
    return [f"/api/v1/data/RACE?from_time={RACE_DAYS[0]}&to_time={RACE_DAYS[0]}&limit=5",
            f"/api/v1/realtime/odds/{race}?type=win", f"/api/v1/realtime/odds/{race}?type=quinella",
            f"/api/v1/realtime/weight/{race}", f"/api/v1/master/horse/{demo.horse_ids[0]}",
            f"/api/v1/master/jockey/{demo.jockey_ids[0]}",
            f"/api/v1/schedule?from_date={RACE_DAYS[0]}&to_date={RACE_DAYS[-1]}&jyo_cd=05", "/status"]


def race_days() -> list[dt.date]:
    return [dt.date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in RACE_DAYS]
