"""What the collector is doing, from its state files and the lake's ``collector_gaps``:
`spotify status`, the dashboard's endpoint (``GET /v1/listening/collector/status``), the admin
page and Prometheus gauges on ``/metrics``.

Never a token: only who is logged in, scopes, last poll, lag, counters and gaps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as PromCollector

from kasoku.domains.listening.collector.auth import TokenStore
from kasoku.domains.listening.collector.cursor import CursorStore
from kasoku.domains.listening.collector.gaps import Gap, list_gaps
from kasoku.domains.listening.collector.paths import spotify_dir
from kasoku.lake.ducklake import Lake

RECENTLY_CLOSED = 20  # closed gaps shown per user


def lake_gaps(lake: Lake) -> list[Gap]:
    """Every gap in the lake, on a read-only connection of its own (none for a lake not created yet)."""
    catalog = lake.sqlite_catalog
    if catalog is not None and not os.path.exists(catalog):
        return []  # never create an empty lake just to report on it
    con = lake.connect(read_only=True)
    try:
        return list_gaps(con)
    finally:
        con.close()


def _users(state: Path) -> list[str]:
    root = spotify_dir(state)
    if not root.is_dir():
        return []
    users = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        user = sub.name
        try:
            user = orjson.loads((sub / "cursor.json").read_bytes()).get("user_id") or user
        except (FileNotFoundError, ValueError):
            pass
        users.append(user)
    return users


def user_status(state: Path, user_id: str, gaps: list[Gap], *, now: float | None = None) -> dict[str, Any]:
    """``gaps``: the user's gaps from the lake (:func:`lake_gaps`)."""
    now = time.time() if now is None else now
    tokens = TokenStore(state, user_id).load()
    cursor = CursorStore(state, user_id).load()
    all_gaps = [g for g in gaps if g.user_id == user_id]
    open_gaps = [g for g in all_gaps if g.open]
    closed = sorted((g for g in all_gaps if not g.open), key=lambda g: g.closed_at or "")
    return {
        "user_id": user_id,
        "logged_in": tokens is not None,
        "spotify_user": tokens.spotify_user if tokens else None,
        "display_name": tokens.display_name if tokens else None,
        "scopes": tokens.scope.split() if tokens else [],
        "logged_in_at": tokens.logged_in_at if tokens else None,
        "token_refreshed_at": tokens.refreshed_at if tokens else None,
        "last_poll_at": cursor.last_poll_at,
        "last_success_at": cursor.last_success_at,
        "last_commit_at": cursor.last_commit_at,
        "lag_seconds": round(now - cursor.last_success_at, 1) if cursor.last_success_at else None,
        "newest_play_end": cursor.newest_play_end,
        "cursor_ms": cursor.cursor_ms,
        "last_error": cursor.last_error,
        "last_rate_limit": cursor.last_rate_limit,
        "counters": {"polls": cursor.polls, "empty_polls": cursor.empty_polls, "failed_polls": cursor.failed_polls,
                     "plays_written": cursor.plays_written, "rate_limited": cursor.rate_limited,
                     "http_calls": cursor.http_calls, "gaps_recorded": len(all_gaps)},
        "open_gaps": [asdict(g) for g in open_gaps],
        "open_gap_seconds": round(sum(g.seconds() for g in open_gaps), 3),
        "closed_gaps": [asdict(g) for g in closed][-RECENTLY_CLOSED:],
    }


def collector_status(state: Path, gaps: list[Gap], users: list[str] | None = None, *,
                     now: float | None = None) -> dict[str, Any]:
    """Every user of the state directory or with gaps in the lake (or those given), the artist
    queue and the job log. ``gaps``: the lake's gaps (:func:`lake_gaps`)."""
    artists: dict[str, Any] = {}
    try:
        cache = orjson.loads((spotify_dir(state) / "artists.json").read_bytes())
        artists = {"cached": len(cache.get("artists", {})), "queued": len(cache.get("queue", [])),
                   "pending": len(cache.get("pending", [])), "requests": cache.get("requests", 0)}
    except FileNotFoundError:
        artists = {"cached": 0, "queued": 0, "pending": 0, "requests": 0}
    try:
        jobs = orjson.loads((state / "schedule.json").read_bytes())
    except FileNotFoundError:
        jobs = {}
    if not users:
        users = _users(state)
        users += sorted({g.user_id for g in gaps} - set(users))
    return {"users": [user_status(state, u, gaps, now=now) for u in users], "artists": artists, "jobs": jobs}


class CollectorMetrics(PromCollector):
    """Read on every scrape (small JSON files and the lake's gaps): gauges and counters per user.

    ``gaps``: how to read the lake's gaps (the server passes its held read connection)."""

    def __init__(self, state: Path, gaps: Callable[[], list[Gap]]) -> None:
        self.state = state
        self.gaps = gaps

    def collect(self) -> Iterator[Any]:
        status = collector_status(self.state, self.gaps())
        g_open = GaugeMetricFamily("kasoku_collector_open_gaps", "Time ranges the Spotify poll may have missed, not yet filled by an export", labels=["user"])
        g_gap_s = GaugeMetricFamily("kasoku_collector_open_gap_seconds", "Seconds covered by open gaps", labels=["user"])
        g_last = GaugeMetricFamily("kasoku_collector_last_success_timestamp_seconds", "Unix time of the last successful poll", labels=["user"])
        g_poll = GaugeMetricFamily("kasoku_collector_last_poll_timestamp_seconds", "Unix time of the last poll (successful or not)", labels=["user"])
        g_lag = GaugeMetricFamily("kasoku_collector_lag_seconds", "Seconds since the last successful poll", labels=["user"])
        c_polls = CounterMetricFamily("kasoku_collector_polls", "Polls of recently-played by outcome", labels=["user", "outcome"])
        c_plays = CounterMetricFamily("kasoku_collector_plays_written", "Plays the collector added to the lake", labels=["user"])
        c_gaps = CounterMetricFamily("kasoku_collector_gaps", "Gaps recorded", labels=["user"])
        c_rate = CounterMetricFamily("kasoku_collector_rate_limited", "429 answers from Spotify", labels=["user"])
        for user in status["users"]:
            u, counters = user["user_id"], user["counters"]
            g_open.add_metric([u], len(user["open_gaps"]))
            g_gap_s.add_metric([u], user["open_gap_seconds"])
            if user["last_poll_at"] is not None:
                g_poll.add_metric([u], user["last_poll_at"])
            if user["last_success_at"] is not None:
                g_last.add_metric([u], user["last_success_at"])
                g_lag.add_metric([u], user["lag_seconds"] or 0.0)
            ok = counters["polls"] - counters["failed_polls"] - counters["empty_polls"]
            for outcome, value in (("new", ok), ("empty", counters["empty_polls"]), ("failed", counters["failed_polls"])):
                c_polls.add_metric([u, outcome], max(0, value))
            c_plays.add_metric([u], counters["plays_written"])
            c_gaps.add_metric([u], counters["gaps_recorded"])
            c_rate.add_metric([u], counters["rate_limited"])
        queued = GaugeMetricFamily("kasoku_collector_artists_queued", "New artists waiting for their metadata")
        queued.add_metric([], status["artists"]["queued"])
        yield from (g_open, g_gap_s, g_poll, g_last, g_lag, c_polls, c_plays, c_gaps, c_rate, queued)
