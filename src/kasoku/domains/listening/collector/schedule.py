"""APScheduler running the collector's jobs; only the leader's jobs do anything.

Jobs (times in UTC, expressions from settings):

| job | when | does |
|---|---|---|
| ``poll`` | every ``spotify.poll_interval`` s (or ``spotify.poll_cron``) | one poll per logged-in user, then new artists |
| ``lake-maintenance`` | ``spotify.maintenance_cron`` (03:30) | ``jobs.lake_maintenance`` (compaction / vacuum) |
| ``rollups`` | ``spotify.rollup_cron`` (02:00 and 14:00) | rebuild missing or stale roll-up months |
| ``watch`` | every ``import_settle / 2`` s (at least 1 s) when ``import_dir`` is set | the watched folder |
| ``lease`` | every ``lease_seconds / 3`` s | take or renew the leader lease |

Every server runs the scheduler (maintenance is not the collector's alone: without it a killed
ingest's files would stay forever); ``poll`` only with ``collect``, ``watch`` only with an
``import_dir``. Each tick first asks the lease (``lease.py``), so a job
runs in one process only. A cron job that should have run while no process was leader
(``<state>/schedule.json`` keeps each job's last run) runs once when a leader starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kasoku.config import Settings
from kasoku.domains.listening.collector import jobs
from kasoku.domains.listening.collector.lease import Lease, lease_for
from kasoku.domains.listening.collector.paths import file_lock
from kasoku.domains.listening.collector.poll import OnCommit
from kasoku.errors import ConfigError
from kasoku.state import write_private

log = logging.getLogger(__name__)


def cron(expression: str, setting: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone.utc)
    except ValueError as exc:
        raise ConfigError(f"{setting} is not a cron expression ({exc}): {expression!r}") from None


class JobLog:
    """Last run of each job, in ``<state>/schedule.json`` (shared by every process)."""

    def __init__(self, state: Path) -> None:
        self.path = state / "schedule.json"
        self.lock = state / "schedule.lock"

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            return dict(orjson.loads(self.path.read_bytes()))
        except FileNotFoundError:
            return {}

    def record(self, job: str, *, started: float, outcome: str) -> None:
        with file_lock(self.lock):
            runs = self.load()
            runs[job] = {"at": started, "outcome": outcome[:500], "seconds": round(time.time() - started, 3)}
            write_private(self.path, orjson.dumps(runs, option=orjson.OPT_INDENT_2))


class CollectorScheduler:
    def __init__(self, settings: Settings, lake: Any, *, users: list[str] | None = None, on_commit: OnCommit | None = None,
                 lease: Lease | None = None, watch: Callable[[], Any] | None = None, poll: bool = True) -> None:
        self.settings = settings
        self.lake = lake
        self.users = users
        self.on_commit = on_commit
        self.lease = lease or lease_for(settings)
        self.watch = watch
        self.log = JobLog(settings.state)
        sp = settings.spotify
        self.triggers: dict[str, Any] = {}
        if poll:  # without it (`serve`, `serve --watch`): the folder and maintenance, no Spotify
            self.triggers["poll"] = (cron(sp.poll_cron, "spotify.poll_cron") if sp.poll_cron
                                     else IntervalTrigger(seconds=sp.poll_interval))
        if sp.maintenance_cron.strip():  # empty: switched off
            self.triggers["lake-maintenance"] = cron(sp.maintenance_cron, "spotify.maintenance_cron")
        if sp.rollup_cron.strip():
            self.triggers["rollups"] = cron(sp.rollup_cron, "spotify.rollup_cron")
        if watch is not None:
            self.triggers["watch"] = IntervalTrigger(seconds=max(1.0, settings.import_settle / 2))
        self.bodies: dict[str, Callable[[], Any]] = {
            "poll": lambda: jobs.collect_once(settings, lake, users, on_commit=on_commit),
            "lake-maintenance": lambda: jobs.lake_maintenance(lake, settings),
            "rollups": lambda: jobs.rollup_maintenance(lake),
        }
        if watch is not None:
            self.bodies["watch"] = watch
        self.scheduler = BackgroundScheduler(timezone=timezone.utc)

    def run_job(self, name: str) -> bool:
        """Run a job now if this process is the leader; returns whether it ran."""
        if not self.lease.acquire():
            return False
        started = time.time()
        try:
            outcome = self.bodies[name]()
        except Exception as exc:  # one failed run must not stop the schedule
            log.exception("scheduled job %s failed", name)
            self.log.record(name, started=started, outcome=f"failed: {exc}")
            return True
        if name != "watch" or outcome:
            self.log.record(name, started=started, outcome=_describe(outcome))
        return True

    def missed(self, now: datetime | None = None) -> list[str]:
        """Cron jobs whose fire time passed since their last recorded run (none recorded: not missed)."""
        now = now or datetime.now(timezone.utc)
        runs = self.log.load()
        late = []
        for name, trigger in self.triggers.items():
            if not isinstance(trigger, CronTrigger) or name not in runs:
                continue
            last = datetime.fromtimestamp(runs[name]["at"], tz=timezone.utc)
            due = trigger.get_next_fire_time(None, last)
            if due is not None and due <= now:
                late.append(name)
        return late

    def _heartbeat(self) -> None:
        was = self.lease.held
        if self.lease.acquire() and not was:
            log.info("collector scheduler: this process is the leader")
            for name in self.missed():
                log.info("collector scheduler: %s was due while no leader ran; running it now", name)
                self.scheduler.add_job(self.run_job, args=[name], id=f"catch-up-{name}", replace_existing=True,
                                       misfire_grace_time=None)

    def start(self) -> None:
        for name, trigger in self.triggers.items():
            self.scheduler.add_job(self.run_job, trigger, args=[name], id=name, max_instances=1, coalesce=True,
                                   misfire_grace_time=300)
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=max(1.0, self.settings.spotify.lease_seconds / 3)),
                               id="lease", max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc),
                               misfire_grace_time=None)
        if "poll" in self.triggers:
            # At once, not after an interval; a loaded machine starting it late must not skip it
            # (APScheduler drops a run more than misfire_grace_time late: 1 s by default).
            self.scheduler.add_job(self.run_job, args=["poll"], id="first-poll", misfire_grace_time=None)
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.lease.release()


def _describe(outcome: Any) -> str:
    if isinstance(outcome, jobs.CollectRound):
        written = sum(p.written for p in outcome.polls)
        errors = "; ".join(f"{u}: {m}" for u, m in outcome.errors.items())
        return f"{len(outcome.polls)} poll(s), {written} new play(s)" + (f"; errors: {errors}" if errors else "")
    return str(outcome)
