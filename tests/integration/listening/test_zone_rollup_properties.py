"""Property: in any zone and under both play rules, a roll-up answer equals the raw answer.

Random plays over ~14 months (tiny name alphabets: ties everywhere; ms around the 30 s rule),
random zones — whole-hour, half-hour (St John's, Adelaide, Lord Howe's 30-min DST), 45-minute
(Kathmandu, Eucla, Chatham) and DST zones — random aligned and unaligned local ranges, open
ranges, random limits. The any-zone roll-ups (rollup_local.py) are built the way ingest builds
them; every case must actually be answered from a roll-up where the rules say it can be.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasoku.domains.listening.rollup_match import ZONES, LakeRollups
from kasoku.domains.listening.rollup_zones import pieces
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import ListeningSource, in_range
from kasoku.domains.listening.tools import validate
from kasoku.domains.listening.zones import local_bounds
from kasoku.lake.duckdb_pool import DuckDBPool
from tests.plays import EPOCH, TIE_ARTISTS, TIE_TRACKS, artists_table, load_lake, plays_table

DAYS = 425
FIRST = EPOCH.date()
ZONE_NAMES = ["UTC", "Asia/Tokyo", "Asia/Kathmandu", "America/St_Johns", "Australia/Eucla", "Europe/Berlin",
              "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "Asia/Kolkata",
              "Pacific/Kiritimati", "Pacific/Pago_Pago", "Africa/Abidjan", "Europe/London"]
# Tools every zone answers from roll-ups; those that need quarter-hour-aligned offsets (all of these zones).
ALWAYS = {"top_tracks", "top_artists", "top_albums", "top_genres", "hourly_pattern", "overview", "streaks",
          "year_in_review", "discoveries"}

plays_rows = st.lists(
    st.tuples(st.sampled_from(["u1", "u2"]), st.integers(0, DAYS * 86400 - 1),
              st.one_of(st.sampled_from([1_000, 29_999, 30_000, 60_000, 180_000]), st.integers(1, 300_000)),
              st.integers(0, len(TIE_ARTISTS) - 1), st.integers(0, len(TIE_TRACKS) - 1)),
    min_size=1, max_size=200)


@st.composite
def ranges(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["month", "unaligned", "short", "open_start", "open_end", "open"]))
    a = FIRST + timedelta(days=draw(st.integers(-20, DAYS + 20)))
    if kind == "month":
        a = a.replace(day=1)
        b = (a + timedelta(days=draw(st.sampled_from([31, 62, 92, 365])))).replace(day=1) - timedelta(days=1)
    else:
        b = a + timedelta(days=draw(st.integers(0, 3) if kind == "short" else st.integers(0, 200)))
    return {"month": {"start": a.isoformat(), "end": b.isoformat()}, "unaligned": {"start": a.isoformat(), "end": b.isoformat()},
            "short": {"start": a.isoformat(), "end": b.isoformat()}, "open_start": {"end": b.isoformat()},
            "open_end": {"start": a.isoformat()}, "open": {}}[kind]


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(sorted(ALWAYS | {"listening_stats"})))
    raw = {"tz": draw(st.sampled_from(ZONE_NAMES)), "min_ms": draw(st.sampled_from([0, 30_000]))}
    if tool == "year_in_review":
        raw["year"] = draw(st.sampled_from([2023, 2024, 2025]))
    else:
        raw.update(draw(ranges()))
    if tool.startswith("top_") or tool in ("streaks", "discoveries"):
        raw["limit"] = draw(st.one_of(st.integers(1, 4), st.integers(1, 100)))
    if tool == "discoveries":
        raw["kind"] = draw(st.sampled_from(["tracks", "artists"]))
    if tool == "listening_stats":
        raw["granularity"] = draw(st.sampled_from(["day", "week", "month"]))
    return tool, raw


GENRES = artists_table({"Aimer": ["j-pop", "anime"], "Ado": ["j-pop"], "aimer": ["indie"], "YOASOBI": ["anime", "j-pop"]})


def _compare(rows: list[tuple[str, int, int, int, int]], cases: list[tuple[str, dict[str, Any]]],
             memories: tuple[bool, ...] = (True,)) -> None:
    """``memories``: answer from the in-memory play index (play_index.py, index_answers.py), from
    the DuckLake roll-up tables, or both — each must equal raw."""
    with tempfile.TemporaryDirectory() as d:
        lake = load_lake(Path(d) / "lake", plays_table(rows), artists=GENRES)  # built the way ingest builds them
        pool = DuckDBPool(lake, workers=1, threads=1)
        try:
            catalog = SnapshotCatalog(pool)
            source = ListeningSource(lake, pool, catalog=catalog)
            snap = asyncio.run(catalog.current())
            present = asyncio.run(catalog.months(snap, "plays"))
            for (tool, raw), memory in ((case, m) for case in cases for m in memories):
                matcher = LakeRollups(pool, catalog, memory=memory)
                params = validate(tool, raw)
                for user in ("u1", "u2"):
                    expected = asyncio.run(source.raw(tool, params, user, snap))
                    plan = asyncio.run(matcher.plan(tool, params, user, snap))
                    if tool in ALWAYS and in_range(present, params):
                        assert plan is not None, (tool, raw)
                    if plan is None:
                        continue
                    got = asyncio.run(matcher.answer(tool, params, user, snap))
                    assert got is not None
                    assert got.schema == expected.schema, (tool, raw, plan.table, memory)
                    assert got.to_pylist() == expected.to_pylist(), (tool, raw, plan.table, memory)
        finally:
            pool.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=plays_rows, cases=st.lists(queries(), min_size=1, max_size=10), memory=st.booleans())
def test_zone_rollup_answers_equal_raw_answers(rows: list[tuple[str, int, int, int, int]],
                                               cases: list[tuple[str, dict[str, Any]]], memory: bool) -> None:
    _compare(rows, cases, (memory,))


def test_plays_at_the_edges_of_local_days_in_45_minute_zones() -> None:
    """Plays one second either side of local midnight (and the quarter-hour around it)."""
    rows: list[tuple[str, int, int, int, int]] = []
    for day in (10, 150, 200):  # before and after DST changes elsewhere
        for tz_offset in (5 * 3600 + 45 * 60, -(3 * 3600 + 30 * 60), 8 * 3600 + 45 * 60):
            midnight = day * 86400 - tz_offset
            rows += [("u1", midnight + s, 40_000, day % 4, s % 5) for s in (-901, -1, 0, 1, 899, 900)]
    zones = ["Asia/Kathmandu", "America/St_Johns", "Australia/Eucla"]
    cases = [(tool, {"tz": tz, "start": (FIRST + timedelta(days=d)).isoformat(),
                     "end": (FIRST + timedelta(days=d + n)).isoformat(), **({"limit": 3} if tool.startswith("top") else {})})
             for tool in ("top_tracks", "hourly_pattern", "overview") for tz in zones for d in (9, 10, 149) for n in (0, 1, 40)]
    _compare(rows, cases, (True, False))


def test_pieces_cover_the_range_exactly() -> None:
    lo, hi = local_bounds(date(2024, 3, 1), date(2024, 5, 15), "Asia/Tokyo")
    cut = pieces(lo, hi)
    assert cut.edges[0] == (lo, lo.replace(hour=0) + timedelta(days=1))  # 2024-02-29T15:00Z .. 2024-03-01T00:00Z
    assert cut.months == (date(2024, 3, 1), date(2024, 5, 1))
    assert cut.days == [(date(2024, 5, 1), date(2024, 5, 15))]  # and the edge 05-15T00:00Z .. 15:00Z
    assert ZONES == "rollup_local"


def test_index_answers_with_awkward_names_ids_and_albums() -> None:
    """Names JSON must escape (quotes, backslash, control characters, non-ASCII), two track ids
    for one (track, artist), NULL albums, plays either side of 30 s: every directly computed
    answer (top lists, hours, overview, year in review) equals raw, and so does the DuckLake plan."""
    import random

    import pyarrow.compute as pc

    rng = random.Random(11)
    rows = [("u1", rng.randrange(DAYS * 86400), rng.choice([1_000, 29_999, 30_000, 200_000]), rng.randrange(4),
             rng.randrange(5)) for _ in range(400)]
    table = plays_table(rows)
    names = ['Say "Hi"', "back\\slash", "tab\there\nline", "ctrl\x01\x1f", "Jóga 日本 🎵"]
    n = table.num_rows
    track = [names[i % len(names)] for i in range(n)]
    track_id = [f"spotify:track:{track[i][:3]}{i % 2}" for i in range(n)]  # two ids per (track, artist)
    album = [None if i % 3 == 0 else f"Album {track[i][:2]}" for i in range(n)]
    for column, values in (("track_name", track), ("track_id", track_id), ("album_name", album)):
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.string()))
    assert pc.count(table["album_name"], mode="only_null").as_py() > 0
    cases: list[tuple[str, dict[str, Any]]] = []
    for tz in ("Asia/Tokyo", "America/New_York", "UTC"):
        for min_ms in (0, 30_000):
            cases += [("year_in_review", {"year": 2024, "tz": tz, "min_ms": min_ms}),
                      ("overview", {"tz": tz, "min_ms": min_ms}),
                      ("overview", {"start": "2024-02-10", "end": "2024-06-20", "tz": tz, "min_ms": min_ms}),
                      ("hourly_pattern", {"start": "2023-12-03", "end": "2024-09-01", "tz": tz, "min_ms": min_ms})]
            cases += [(tool, {"start": "2024-01-15", "end": "2024-11-02", "tz": tz, "min_ms": min_ms, "limit": 7})
                      for tool in ("top_tracks", "top_artists", "top_albums")]
    _compare_table(table, cases, (True, False))


def _compare_table(table: pa.Table, cases: list[tuple[str, dict[str, Any]]], memories: tuple[bool, ...]) -> None:
    with tempfile.TemporaryDirectory() as d:
        lake = load_lake(Path(d) / "lake", table)
        pool = DuckDBPool(lake, workers=1, threads=1)
        try:
            catalog = SnapshotCatalog(pool)
            source = ListeningSource(lake, pool, catalog=catalog)
            snap = asyncio.run(catalog.current())
            for (tool, raw), memory in ((case, m) for case in cases for m in memories):
                matcher = LakeRollups(pool, catalog, memory=memory)
                params = validate(tool, raw)
                expected = asyncio.run(source.raw(tool, params, "u1", snap))
                plan = asyncio.run(matcher.plan(tool, params, "u1", snap))
                assert plan is not None, (tool, raw)
                if memory and plan.table == ZONES:
                    assert plan.answer is not None, (tool, raw)  # computed from the index, no statement
                got = asyncio.run(matcher.answer(tool, params, "u1", snap))
                assert got is not None
                assert got.schema == expected.schema, (tool, raw, memory)
                assert got.to_pylist() == expected.to_pylist(), (tool, raw, memory)
        finally:
            pool.close()


def test_the_server_never_waits_for_a_play_index() -> None:
    """wait=False (the server): while the snapshot's index is being built a request takes the
    DuckLake plan; once built, the index answers. Both equal raw."""
    import random

    rng = random.Random(5)
    rows = [("u1", rng.randrange(DAYS * 86400), rng.randrange(1, 300_000), rng.randrange(4), rng.randrange(5))
            for _ in range(300)]
    params = validate("top_tracks", {"start": "2024-01-03", "end": "2024-08-09", "tz": "Asia/Tokyo", "limit": 5})

    async def run(lake: Any, pool: DuckDBPool) -> None:
        catalog = SnapshotCatalog(pool)
        source, matcher = ListeningSource(lake, pool, catalog=catalog), LakeRollups(pool, catalog, wait=False)
        snap = await catalog.current()
        expected = await source.raw("top_tracks", params, "u1", snap)
        first = await matcher.plan("top_tracks", params, "u1", snap)
        assert first is not None and first.answer is None and first.relations == {}  # DuckLake tables
        assert (await matcher.answer("top_tracks", params, "u1", snap)).to_pylist() == expected.to_pylist()
        indexes = matcher.zones.indexes
        assert indexes is not None
        await asyncio.wait_for(asyncio.gather(*indexes._tasks), 60)  # the build started by the first request
        later = await matcher.plan("top_tracks", params, "u1", snap)
        assert later is not None and later.answer is not None
        assert later.answer.to_pylist() == expected.to_pylist()

    with tempfile.TemporaryDirectory() as d:
        lake = load_lake(Path(d) / "lake", plays_table(rows))
        pool = DuckDBPool(lake, workers=1, threads=1)
        try:
            asyncio.run(run(lake, pool))
        finally:
            pool.close()
