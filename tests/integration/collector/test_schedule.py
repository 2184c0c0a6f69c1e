"""One leader runs the jobs; missed cron runs catch up; status and metrics show gaps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kasoku.config import Settings
from kasoku.domains.listening.collector.jobs import lake_maintenance
from kasoku.domains.listening.collector.lease import FileLease, RedisLease
from kasoku.domains.listening.collector.poll import Collector
from kasoku.domains.listening.collector.schedule import CollectorScheduler
from kasoku.domains.listening.collector.status import CollectorMetrics, collector_status, lake_gaps
from kasoku.domains.listening.domain import lake_from_settings
from tests.integration.collector.conftest import lake_plays
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def test_two_schedulers_one_leader(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    fake.add_plays(5, start=T0)
    first = CollectorScheduler(logged_in, lake, lease=FileLease(logged_in.state / "scheduler.lock"))
    second = CollectorScheduler(logged_in, lake_from_settings(logged_in), lease=FileLease(logged_in.state / "scheduler.lock"))
    try:
        assert first.run_job("poll") is True
        assert second.run_job("poll") is False and second.run_job("lake-maintenance") is False
        assert fake.count("/v1/me/player/recently-played") == 1 and len(lake_plays(lake)) == 5
        first.lease.release()  # the leader went away (a dead process's flock is released by the kernel)
        assert second.run_job("rollups") is True
    finally:
        first.stop()
        second.stop()


def test_the_leader_never_answers_not_leader_to_its_own_threads(tmp_path: Any) -> None:
    """The heartbeat and the first poll ask the lease at once when the scheduler starts; each
    must hear "leader" (an unlocked FileLease lost that race most of the time: the first poll
    was skipped until the next interval)."""
    import threading

    for attempt in range(50):
        lease = FileLease(tmp_path / f"scheduler-{attempt}.lock")
        barrier, answers = threading.Barrier(4), []

        def ask(lease: FileLease = lease, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            answers.append(lease.acquire())

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lease.release()
        assert answers == [True] * 4


def test_redis_lease_has_one_holder(redis_url: str) -> None:
    a = RedisLease(redis_url, name="test", lease_seconds=30)
    b = RedisLease(redis_url, name="test", lease_seconds=30)
    try:
        assert a.acquire() and a.acquire()  # renews while held
        assert not b.acquire()
        a.release()
        assert b.acquire()
    finally:
        b.release()


def test_a_cron_run_missed_while_down_is_caught_up(logged_in: Settings, lake: Any) -> None:
    scheduler = CollectorScheduler(logged_in, lake, lease=FileLease(logged_in.state / "scheduler.lock"))
    try:
        assert scheduler.missed() == []  # never ran: nothing to catch up
        now = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
        scheduler.log.record("rollups", started=(now - timedelta(hours=14)).timestamp(), outcome="[]")  # ran at 01:00
        scheduler.log.record("lake-maintenance", started=(now - timedelta(hours=1)).timestamp(), outcome="ok")
        assert scheduler.missed(now) == ["rollups"]  # 02:00 and 14:00 passed since
    finally:
        scheduler.stop()


def test_lake_maintenance_runs_the_lakes_step(logged_in: Settings, lake: Any) -> None:
    assert lake_maintenance(lake, logged_in).startswith(("vacuum: ", "compact: "))


def test_gaps_show_in_status_and_metrics(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    first = fake.add_plays(3, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        fake.add_plays(60, start=first[-1].end, seed=2)
        collector.poll()
    [me] = collector_status(logged_in.state, lake_gaps(lake))["users"]
    assert len(me["open_gaps"]) == 1 and me["open_gap_seconds"] > 0
    registry = CollectorRegistry()
    registry.register(CollectorMetrics(logged_in.state, lambda: lake_gaps(lake)))
    text = generate_latest(registry).decode()
    assert 'kasoku_collector_open_gaps{user="me"} 1.0' in text
    assert f'kasoku_collector_open_gap_seconds{{user="me"}} {me["open_gap_seconds"]}' in text
    assert 'kasoku_collector_gaps_total{user="me"} 1.0' in text
    assert 'kasoku_collector_last_poll_timestamp_seconds{user="me"}' in text
    assert 'kasoku_collector_lag_seconds{user="me"}' in text


def test_every_server_schedules_lake_maintenance_but_polls_only_when_collecting(tmp_path: Any) -> None:
    """A plain ``kasoku serve`` (no --collect, no --watch) still runs the nightly compaction and
    vacuum (a killed ingest's files are removed) and the roll-up job; an empty cron switches one off."""
    import asyncio

    import httpx

    from kasoku.service import build_app

    async def jobs(settings: Settings) -> set[str] | None:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
                assert (await c.get("/health/live")).status_code == 200
            scheduler = app.state.collector.scheduler
            return None if scheduler is None else {job.id for job in scheduler.scheduler.get_jobs()}

    base = dict(lake=str(tmp_path / "lake"), state=tmp_path / "state", user_id="me")
    plain = asyncio.run(jobs(Settings(**base)))
    assert plain is not None and {"lake-maintenance", "rollups", "lease"} <= plain and "poll" not in plain
    off = asyncio.run(jobs(Settings(**base, spotify={"maintenance_cron": "", "rollup_cron": ""})))
    assert off is None
