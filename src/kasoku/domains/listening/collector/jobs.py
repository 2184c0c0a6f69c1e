"""The scheduled jobs' bodies: poll every logged-in user, lake maintenance, roll-up maintenance.

Each is a plain function of (settings, lake, ...) so ``kasoku collect --once`` and the tests call
them without a scheduler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kasoku.config import Settings
from kasoku.domains.listening.collector.artists import ArtistMetadata, ArtistRound
from kasoku.domains.listening.collector.paths import known_users
from kasoku.domains.listening.collector.poll import Collector, OnCommit, PollResult
from kasoku.errors import KasokuError
from kasoku.lake import maintenance
from kasoku.lake.ducklake import Lake

log = logging.getLogger(__name__)


@dataclass
class CollectRound:
    polls: list[PollResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # user -> message
    artists: ArtistRound | None = None


def collect_users(settings: Settings, users: list[str] | None = None) -> list[str]:
    """The users to poll: those given, else everyone logged in in this state directory."""
    return users or known_users(settings.state)


def collect_once(settings: Settings, lake: Any, users: list[str] | None = None, *,
                 on_commit: OnCommit | None = None, artists: bool = True) -> CollectRound:
    """One poll of each user, then one paced round of new artists' metadata."""
    done = CollectRound()
    for user in collect_users(settings, users):
        with Collector(settings, lake, user, on_commit=on_commit) as collector:
            try:
                result = collector.poll()
            except KasokuError as exc:
                log.warning("collector: poll of %s failed: %s", user, exc.message)
                done.errors[user] = exc.message
                continue
            done.polls.append(result)
            if not artists:
                continue
            metadata = ArtistMetadata(settings, lake, collector.api)
            if result.new_artists:
                metadata.enqueue(result.new_artists)
            cache = metadata.load()
            if (cache.queue and settings.spotify.artists_per_poll) or cache.pending:
                done.artists = metadata.run(user_id=user)
    return done


def lake_maintenance(lake: Lake, settings: Settings) -> str:
    """The nightly hook: compaction of small files and inlined rows, then vacuum of snapshots
    older than ``lake_retention_hours`` and the files only they used (incl. a killed ingest's)."""
    compacted = maintenance.compact(lake)
    vacuumed = maintenance.vacuum(lake, retention=timedelta(hours=settings.lake_retention_hours))
    return f"compact: {compacted}; vacuum: {vacuumed}"


def rollup_maintenance(lake: Any) -> list[str]:
    """The seed's 02:00 / 14:00 job: rebuild the roll-ups of months that are missing or stale."""
    from kasoku.domains.listening.rollup_build import rebuild
    from kasoku.domains.listening.rollup_status import rollup_status

    status = rollup_status(lake)
    months = sorted(set(status.stale) | {m for missing in status.missing.values() for m in missing})
    if not months:
        return []
    rebuild(lake, months)
    return months
