"""Spotify collector: poll → visible on a running server, and what an empty poll costs.

A fake Spotify (tests/spotify_fake.py) on a loopback port; a lake holding an imported export
(``--history`` plays through the real importer); uvicorn servers in this process.

1. Poll → visible in ``/v1/listening/stats`` (a cached answer, 6 h TTL), time from the poll's
   commit to the first GET that shows the new plays:
   a. ``serve --collect``: the poll runs inside the server; its commit invalidates in-process;
   b. ``kasoku collect --notify``: a separate collector, then ``POST /admin/invalidate``;
   c. a separate collector and no notify: the server notices by itself, following the lake's
      data version every ``version_poll_interval`` seconds.
2. Poll cost: a poll with nothing new (HTTP calls, lake writes, ms) against a poll that writes
   ``--new`` plays, same run; a poll that records a gap (its plays and the gap in one commit).
Also: how long after ``serve --collect`` accepts connections its start-up poll commits.

    PYTHONPATH=src:. .venv/bin/python -m benchmarks.collector [--history 20000] [--rounds 5] [--new 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

from kasoku.cli import notify_server
from kasoku.config import Settings
from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.poll import Collector, PollResult
from kasoku.domains.listening.collector.sink import ingest_paths
from kasoku.domains.listening.domain import lake_from_settings
from kasoku.service import build_app
from tests.integration.collector.conftest import do_login, lake_version
from tests.services import free_port
from tests.spotify_fake import FakeSpotify

TOKEN = "bench-admin"


def serve(settings: Settings) -> tuple[str, Any, uvicorn.Server]:
    app = build_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", app, server


def total_plays(client: httpx.Client, base: str) -> int:
    rows = client.get(f"{base}/v1/listening/stats?granularity=month").json()["data"]
    return sum(int(r["track_count"]) for r in rows)


def wait_visible(client: httpx.Client, base: str, expected: int, since: float, timeout: float) -> float | None:
    while time.perf_counter() - since < timeout:
        if total_plays(client, base) >= expected:
            return time.perf_counter() - since
        time.sleep(0.005)
    return None


def fmt(values: list[float | None]) -> str:
    seen = [v for v in values if v is not None]
    if not seen:
        return "never (within the timeout) in every round"
    missing = len(values) - len(seen)
    return (f"median {statistics.median(seen) * 1000:7.1f} ms   max {max(seen) * 1000:7.1f} ms"
            + (f"   ({missing} round(s) not visible within the timeout)" if missing else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=20_000, help="plays in the imported export")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new", type=int, default=5, help="new plays per poll")
    parser.add_argument("--empty-polls", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for visibility")
    args = parser.parse_args()

    fake = FakeSpotify().start()
    tmp = Path(tempfile.mkdtemp(prefix="kasoku-bench-collector-"))
    spotify = SpotifySettings(client_id=fake.client_id, accounts_url=fake.url, api_url=fake.url, poll_interval=3600,
                              artists_per_poll=0)
    settings = Settings(lake=str(tmp / "lake"), state=tmp / "state", user_id="me", admin_token=TOKEN, spotify=spotify)
    do_login(settings)
    at = datetime.now(timezone.utc) - timedelta(days=120)
    history = fake.add_plays(args.history, start=at)
    export = tmp / "Streaming_History_Audio_2026_0.json"
    export.write_bytes(orjson.dumps(fake.export_rows()))
    started = time.perf_counter()
    ingest_paths(lake_from_settings(settings), [export], user_id="me", settings=settings)
    print(f"history: {args.history:,} plays imported in {time.perf_counter() - started:.1f} s "
          f"({history[0].start:%Y-%m-%d} .. {history[-1].end:%Y-%m-%d})")
    at = history[-1].end

    def more() -> None:
        nonlocal at
        added = fake.add_plays(args.new, start=at + timedelta(minutes=1), seed=int(at.timestamp()) % 97)
        at = added[-1].end

    client = httpx.Client(timeout=30)
    # 1a: serve --collect
    more()  # new plays for the start-up poll
    cursor_file = tmp / "state" / "spotify" / "me" / "cursor.json"
    base, app, server = serve(settings.model_copy(update={"collect": True}))
    accepting = time.time()
    domain = next(d for d in app.state.domains if d.name == "collector")
    while not cursor_file.exists() or orjson.loads(cursor_file.read_bytes()).get("last_commit_at") is None:
        time.sleep(0.01)
    first_poll = orjson.loads(cursor_file.read_bytes())["last_commit_at"] - accepting
    print(f"serve --collect: the start-up poll committed {first_poll:.2f} s after the server accepted connections")
    time.sleep(0.5)
    in_process: list[float | None] = []
    commit_at: list[float] = []
    original = domain._polled

    def polled(result: PollResult) -> None:
        commit_at.append(time.perf_counter())
        original(result)

    domain._polled = polled
    for _ in range(args.rounds):
        expected = total_plays(client, base) + args.new
        total_plays(client, base)  # cached now
        more()
        domain.scheduler.run_job("poll")
        in_process.append(wait_visible(client, base, expected, commit_at[-1], args.timeout))
    server.should_exit = True
    time.sleep(0.5)

    # 1b / 1c: a separate collector, with and without --notify
    base, app, server = serve(settings)
    lake = lake_from_settings(settings)
    results: dict[str, list[float | None]] = {"notify": [], "none": []}
    for mode in ("notify", "none"):
        for _ in range(args.rounds if mode == "notify" else min(2, args.rounds)):
            expected = total_plays(client, base) + args.new
            total_plays(client, base)
            more()
            marks: list[float] = []

            def on_commit(result: PollResult, marks: list[float] = marks, mode: str = mode) -> None:
                marks.append(time.perf_counter())
                if mode == "notify" and result.summary is not None:
                    notify_server(base, TOKEN, [f"month:{m}" for m in result.summary.months_rewritten]
                                  + ["listening:open-range"])

            with Collector(settings, lake, "me", on_commit=on_commit) as collector:
                collector.poll()
            results[mode].append(wait_visible(client, base, expected, marks[-1], args.timeout))
            if mode == "none":
                notify_server(base, TOKEN, [])  # reset for the next round
    server.should_exit = True

    print("\npoll commit -> new plays visible in GET /v1/listening/stats (cached answer)")
    print(f"  serve --collect (in-process invalidation)  {fmt(in_process)}")
    print(f"  kasoku collect --notify (admin POST)       {fmt(results['notify'])}")
    print(f"  kasoku collect, no notify (version follow) {fmt(results['none'])}   (timeout {args.timeout:.0f} s)")

    # 2: poll cost
    with Collector(settings, lake, "me") as collector:
        writes: list[float] = []
        for _ in range(args.rounds):
            more()
            t = time.perf_counter()
            r = collector.poll()
            writes.append(time.perf_counter() - t)
            assert r.written == args.new, r
        version = lake_version(lake)
        empties: list[float] = []
        calls = 0
        for _ in range(args.empty_polls):
            t = time.perf_counter()
            r = collector.poll()
            empties.append(time.perf_counter() - t)
            calls += r.http_calls
        unchanged = lake_version(lake) == version
        # 3: a poll that finds a gap (more than 50 plays since the last one): plays + gap, one commit
        fake.add_plays(120, start=at + timedelta(minutes=1), seed=11)
        version = lake_version(lake)
        t = time.perf_counter()
        r = collector.poll()
        gap_poll = time.perf_counter() - t
        assert r.gap_recorded and r.written == 50, r
        gap_commits = lake_version(lake) - version
    empty, write = statistics.median(empties), statistics.median(writes)
    print(f"\npoll with {args.new} new plays: median {write * 1000:.1f} ms (one commit each)")
    print(f"poll with nothing new:   median {empty * 1000:.1f} ms, {calls / args.empty_polls:.1f} HTTP call(s) per poll, "
          f"lake version {'unchanged' if unchanged else 'CHANGED'} over {args.empty_polls} polls "
          f"({write / empty:.0f}x cheaper than a writing poll)")
    print(f"poll that records a gap (50 plays + the gap row): {gap_poll * 1000:.1f} ms, {gap_commits} commit(s)")
    client.close()
    fake.close()


if __name__ == "__main__":
    main()
