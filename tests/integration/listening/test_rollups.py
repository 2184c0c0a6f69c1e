"""Roll-ups through the real importer, the CLI and HTTP: built with the plays in one transaction, rebuilt
only where an ingest touched, read without any GROUP BY over raw plays, on local and S3 lakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kasoku.cli import app as cli_app
from kasoku.config import Settings
from kasoku.domains.listening import rollup_build as rb
from kasoku.domains.listening.ingest import ingest
from kasoku.domains.listening.rollup_match import LakeRollups
from kasoku.domains.listening.rollup_status import rollup_status
from kasoku.domains.listening.snapshots import SnapshotCatalog
from kasoku.domains.listening.source import ListeningSource
from kasoku.domains.listening.tables import MONTH_OF, months_of
from kasoku.domains.listening.tools import validate
from kasoku.engine.types import Query
from kasoku.lake.duckdb_pool import DuckDBPool, QueryProfile
from kasoku.lake.ducklake import Lake, current_snapshot
from kasoku.service import build_app
from tests.conftest import S3Lake
from tests.plays import load_lake, random_plays

NAMES = [("Aimer", "Zankyosanka"), ("Ado", "Usseewa"), ("YOASOBI", "Idol"), ("Aimer", "Brave Shine")]


def account_file(path: Path, months: list[str], per_month: int = 40) -> Path:
    """An account-data export (``StreamingHistory_music_N.json``) with plays in ``months``."""
    records = []
    for mi, month in enumerate(months):
        for i in range(per_month):
            artist, track = NAMES[(i * 7 + mi) % len(NAMES)]
            day, minute = 1 + i % 27, (i * 13) % 60
            records.append({"endTime": f"{month}-{day:02d} {i % 24:02d}:{minute:02d}", "artistName": artist,
                            "trackName": track, "msPlayed": 10_000 + 997 * i})
    path.write_text(json.dumps(records))
    return path


def artists_file(path: Path) -> Path:
    path.write_text(json.dumps({"artists": [
        {"id": "a1", "name": "Aimer", "genres": ["j-pop", "anime"], "type": "artist"},
        {"id": "a2", "name": "Ado", "genres": ["j-pop"], "type": "artist"}]}))
    return path


def read_only(lake: Lake) -> Any:
    return lake.connect(read_only=True)


def months(lake: Lake, table: str) -> list[str]:
    con = read_only(lake)
    try:
        return months_of(con, table)
    finally:
        con.close()


def snapshot(lake: Lake) -> int:
    con = read_only(lake)
    try:
        return current_snapshot(con)
    finally:
        con.close()


def rollup_rows(lake: Lake) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """table -> month -> its rows, in a stable order."""
    con = read_only(lake)
    try:
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for table in rb.ALL_TABLES:
            data = con.execute(f"SELECT {MONTH_OF[table]} AS m_, * FROM lake.{table} ORDER BY ALL").to_arrow_table().to_pylist()
            per: dict[str, list[dict[str, Any]]] = {}
            for row in data:
                per.setdefault(row.pop("m_"), []).append(row)
            out[table] = per
        return out
    finally:
        con.close()


def reads_only(profile: QueryProfile, table: str) -> bool:
    """The plan's scans read the roll-up table (files or inlined rows) and never plays."""
    return bool(profile.scans) and profile.tables_read == {table}


def test_ingest_commits_rollups_with_the_plays_and_rebuilds_only_touched_months(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    first = ingest(lake, [account_file(tmp_path / "StreamingHistory_music_0.json", ["2024-01", "2024-02", "2024-03"])],
                   user_id="u1", rollups=rb.RollupBuilder())
    assert first.rollup_tables and snapshot(lake) == first.snapshot  # plays and roll-ups: one snapshot
    assert months(lake, rb.TRACKS_MONTHLY) == ["2024-01", "2024-02", "2024-03"]
    assert months(lake, rb.TRACKS_WINDOW) == ["2024-01", "2024-02", "2024-03"]
    before = rollup_rows(lake)

    second = ingest(lake, [account_file(tmp_path / "StreamingHistory_music_1.json", ["2024-05"])], user_id="u1",
                    rollups=rb.RollupBuilder())
    after = rollup_rows(lake)
    assert second.snapshot == snapshot(lake) and second.snapshot is not None and second.snapshot > (first.snapshot or 0)
    for table in rb.FROM_PLAYS:
        assert {m: r for m, r in after[table].items() if m != "2024-05"} == before[table], table
        assert "2024-05" in after[table]
    # Windows containing May: only the one ending in May (later months hold no plays).
    changed = {m for m in after[rb.TRACKS_WINDOW] if after[rb.TRACKS_WINDOW][m] != before[rb.TRACKS_WINDOW].get(m)}
    assert changed == {"2024-05"}
    assert rollup_status(lake).fresh

    # Incremental roll-ups equal a from-scratch rebuild of every month.
    rb.rebuild(lake)
    assert rollup_rows(lake) == after


def test_artist_genres_alone_rebuild_the_genre_rollups(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, [account_file(tmp_path / "StreamingHistory_music_0.json", ["2024-01", "2024-02"])], user_id="u1",
           rollups=rb.RollupBuilder())
    assert months(lake, rb.GENRES_MONTHLY) == []
    summary = ingest(lake, [artists_file(tmp_path / "artists.json")], user_id="u1", rollups=rb.RollupBuilder())
    assert summary.rollup_tables == [rb.GENRES_MONTHLY] and summary.artists_changed
    assert months(lake, rb.GENRES_MONTHLY) == ["2024-01", "2024-02"]
    genres = {r["genre"] for r in rollup_rows(lake)[rb.GENRES_MONTHLY]["2024-01"]}
    assert genres == {"j-pop", "anime"}


async def test_roll_up_path_reads_no_raw_plays(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, [account_file(tmp_path / "StreamingHistory_music_0.json", [f"2024-{m:02d}" for m in range(1, 13)]),
                  artists_file(tmp_path / "artists.json")], user_id="u1", rollups=rb.RollupBuilder())
    pool = DuckDBPool(lake, workers=1)
    try:
        catalog = SnapshotCatalog(pool)
        matcher = LakeRollups(pool, catalog)
        source = ListeningSource(lake, pool, rollups=matcher, catalog=catalog)
        snap = await catalog.current()
        cases = [("top_tracks", {"start": "2024-01-01", "end": "2024-12-31"}, rb.TRACKS_WINDOW),
                 ("top_tracks", {"start": "2024-03-01", "end": "2024-03-31"}, rb.TRACKS_MONTHLY),
                 ("top_artists", {"start": "2024-02-01", "end": "2024-05-31"}, rb.TRACKS_MONTHLY),
                 ("top_genres", {}, rb.GENRES_MONTHLY),
                 ("listening_stats", {"granularity": "day", "start": "2024-02-03", "end": "2024-04-09"}, rb.DAYS),
                 ("listening_stats", {"granularity": "week"}, rb.DAY_TRACKS),
                 ("listening_stats", {"granularity": "month"}, rb.MONTHS),
                 ("hourly_pattern", {"start": "2024-06-15"}, rb.HOURS)]
        for tool, raw, table in cases:
            params = validate(tool, raw)
            plan = await matcher.plan(tool, params, "u1", snap)
            assert plan is not None and plan.table == table, (tool, raw)
            profile = await pool.profile(plan.sql, plan.args)
            assert reads_only(profile, table), (table, profile.scans)
            result = await source.run(Query("listening", tool, raw, "u1"))
            assert result.source == "rollup" and result.version == snap
            assert result.table.equals(await source.raw(tool, params, "u1", snap))
        # Unaligned ranges: months + days + raw edges of the any-zone tables; other play rules: raw.
        unaligned = await source.run(Query("listening", "top_tracks", {"start": "2024-01-02", "end": "2024-03-31"}, "u1"))
        assert unaligned.source == "rollup"
        odd_rule = await source.run(Query("listening", "top_tracks", {"start": "2024-01-02", "min_ms": 12345}, "u1"))
        assert odd_rule.source == "raw"
    finally:
        pool.close()


def test_ingest_with_rollups_off_drops_what_it_would_make_stale(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, [account_file(tmp_path / "StreamingHistory_music_0.json", ["2024-01", "2024-02", "2024-03"])],
           user_id="u1", rollups=rb.RollupBuilder())
    ingest(lake, [account_file(tmp_path / "StreamingHistory_music_1.json", ["2024-02"], per_month=5)], user_id="u2",
           rollups=rb.RollupBuilder(drop_only=True))
    assert months(lake, rb.TRACKS_MONTHLY) == ["2024-01", "2024-03"]
    assert months(lake, rb.TRACKS_WINDOW) == ["2024-01"]  # windows ending Feb and Mar contain Feb
    status = rollup_status(lake)
    assert not status.fresh and status.missing[rb.TRACKS_MONTHLY] == ["2024-02"]
    # The next ingest with roll-ups on touches only March, but sees (plays counted against
    # rollup_months) that February has none and builds it too: windows need every month.
    summary = ingest(lake, [account_file(tmp_path / "StreamingHistory_music_2.json", ["2024-03"], per_month=3)],
                     user_id="u3", rollups=rb.RollupBuilder())
    assert summary.months_rewritten == ["2024-03"]
    assert months(lake, rb.TRACKS_MONTHLY) == months(lake, rb.MONTHS) == ["2024-01", "2024-02", "2024-03"]
    assert months(lake, rb.TRACKS_WINDOW) == ["2024-01", "2024-02", "2024-03"]
    assert rollup_status(lake).fresh


def test_s3_lake_builds_and_answers_from_rollups(s3_lake_url: S3Lake) -> None:
    import asyncio

    lake = load_lake(s3_lake_url.lake(), random_plays(2000, seed=3))
    assert months(lake, rb.TRACKS_MONTHLY) == months(lake, "plays")

    async def check() -> None:
        pool = DuckDBPool(lake, workers=1)
        try:
            catalog = SnapshotCatalog(pool)
            matcher, source = LakeRollups(pool, catalog), ListeningSource(lake, pool, catalog=catalog)
            snap = await catalog.current()
            params = validate("top_artists", {"start": "2024-01-01", "end": "2024-06-30", "limit": 3})
            plan = await matcher.plan("top_artists", params, "u1", snap)
            assert plan is not None and plan.table == rb.ARTISTS_WINDOW
            got = await matcher.answer("top_artists", params, "u1", snap)
            assert got is not None and got.equals(await source.raw("top_artists", params, "u1", snap))
            profile = await pool.profile(plan.sql, plan.args)
            assert reads_only(profile, rb.ARTISTS_WINDOW), profile.scans
            assert all(f.startswith("s3://") for f in profile.files_read)
        finally:
            pool.close()

    asyncio.run(check())


def test_cli_rebuild_and_status(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    lake = load_lake(lake_dir, random_plays(800, seed=5), rollups=False)  # plays without roll-ups
    runner = CliRunner()
    status = runner.invoke(cli_app, ["rollup", "status", "--lake", str(lake_dir)])
    assert status.exit_code == 0, status.output
    assert "NOT fresh" in status.output
    bad = runner.invoke(cli_app, ["rollup", "rebuild", "--from", "2024-13", "--lake", str(lake_dir)])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output
    part = runner.invoke(cli_app, ["rollup", "rebuild", "--from", "2024-02", "--to", "2024-03", "--lake", str(lake_dir)])
    assert part.exit_code == 0, part.output
    # The first rebuild also backfills months that never had roll-ups (windows need them all).
    assert months(lake, rb.TRACKS_MONTHLY) == months(lake, "plays")
    status = runner.invoke(cli_app, ["rollup", "status", "--lake", str(lake_dir)])
    assert status.exit_code == 0 and "fresh: every plays month" in status.output, status.output


def test_a_rebuild_racing_an_ingest_never_leaves_rollups_disagreeing(tmp_path: Path) -> None:
    """Rebuild and ingest at once: whichever commits second reruns on the other's snapshot."""
    import threading

    lake = load_lake(tmp_path / "lake", random_plays(1500, seed=8), rollups=False)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def rebuild() -> None:
        barrier.wait()
        try:
            rb.rebuild(lake)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def more() -> None:
        barrier.wait()
        try:
            load_lake(lake, random_plays(700, seed=9))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rebuild), threading.Thread(target=more)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    status = rollup_status(lake)
    assert status.fresh and status.plays.rows == 2200, (status.stale, status.missing)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    lake = Lake(str(tmp_path / "lake"))
    ingest(lake, [account_file(tmp_path / "StreamingHistory_music_0.json", ["2024-01", "2024-02", "2024-03"])],
           user_id="u1", rollups=rb.RollupBuilder())
    app = build_app(Settings(lake=str(tmp_path / "lake"), user_id="u1"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


async def test_http_source_header_and_genre_error(client: httpx.AsyncClient) -> None:
    aligned = await client.get("/v1/listening/top-tracks?start=2024-01-01&end=2024-03-31&limit=3")
    assert aligned.status_code == 200 and aligned.headers["x-kasoku-source"] == "rollup"
    unaligned = await client.get("/v1/listening/top-tracks?start=2024-01-05&end=2024-03-31&limit=3&tz=Asia/Tokyo")
    assert unaligned.headers["x-kasoku-source"] == "rollup"
    odd_rule = await client.get("/v1/listening/top-tracks?start=2024-01-05&end=2024-03-31&limit=3&min_ms=1000")
    assert odd_rule.headers["x-kasoku-source"] == "raw"
    genres = await client.get("/v1/listening/top-genres")
    assert genres.status_code == 404
    assert genres.json()["error"]["message"] == "no artist genres imported; import saved Web API artist objects"
    metrics = (await client.get("/metrics")).text
    assert 'kasoku_source_runs_total{dataset="listening",source="rollup"}' in metrics
