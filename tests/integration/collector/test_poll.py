"""Polling recently-played: new plays once, empty polls cost one call, gaps recorded, export matches."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kasoku.config import Settings
from kasoku.domains.listening.collector.auth import TokenStore
from kasoku.domains.listening.collector.poll import Collector
from kasoku.domains.listening.collector.sink import ingest_paths
from tests.integration.collector.conftest import lake_gaps, lake_plays, lake_version
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


def write_export(tmp: Path, fake: FakeSpotify, name: str = "Streaming_History_Audio_2026_0.json") -> Path:
    path = tmp / name
    path.write_text(json.dumps(fake.export_rows()))
    return path


def test_tokens_are_private(logged_in: Settings) -> None:
    path = TokenStore(logged_in.state, "me").path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert TokenStore(logged_in.state, "me").load().refresh_token  # type: ignore[union-attr]


def test_poll_writes_new_plays_then_empty_poll_is_one_call_and_no_write(logged_in: Settings, fake: FakeSpotify,
                                                                        lake: Any) -> None:
    fake.add_plays(12, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        first = collector.poll()
        assert (first.returned, first.written) == (12, 12)
        assert len(lake_plays(lake)) == 12
        version = lake_version(lake)
        before = fake.count("/v1/")
        second = collector.poll()
    assert second.http_calls == 1 and fake.count("/v1/") - before == 1
    assert second.new_items == 0 and second.summary is None
    assert lake_version(lake) == version


def test_repeated_polls_with_overlap_write_each_play_once(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    at = T0
    with Collector(logged_in, lake, "me") as collector:
        for round_ in range(4):
            added = fake.add_plays(7, start=at, seed=round_)
            at = added[-1].end
            collector.poll()
    # a fresh collector state (lost state dir): the same 50-window is read again, nothing doubles
    (Path(logged_in.state) / "spotify" / "me" / "cursor.json").unlink()
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
    plays = lake_plays(lake)
    assert len(plays) == 28 == len({p["play_id"] for p in plays})
    assert all(p["source"] == "webapi" for p in plays)


@pytest.mark.parametrize("mode", ["start", "end"])
def test_poll_then_export_import_keeps_each_play_once(logged_in: Settings, fake: FakeSpotify, lake: Any,
                                                      tmp_path: Path, mode: str) -> None:
    fake.played_at_mode = mode
    fake.add_plays(30, start=datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc))  # crosses into December
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
    assert len(lake_plays(lake)) == 30
    summary = ingest_paths(lake, [write_export(tmp_path, fake)], user_id="me", settings=logged_in)
    plays = lake_plays(lake)
    assert len(plays) == 30, summary
    assert {p["source"] for p in plays} == {"extended"}
    # the summary says which reading of Spotify's played_at matched the export
    assert (summary.matched_by_start, summary.matched_by_end) == ((30, 0) if mode == "start" else (0, 30))


def test_more_than_50_plays_between_polls_is_a_gap_an_export_closes(logged_in: Settings, fake: FakeSpotify,
                                                                    lake: Any, tmp_path: Path) -> None:
    first = fake.add_plays(10, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        later = fake.add_plays(120, start=first[-1].end, seed=3)
        result = collector.poll()
    assert result.gap is not None and result.gap_recorded
    gaps = lake_gaps(lake)
    assert len(gaps) == 1 and gaps[0].open
    start, end = (datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (gaps[0].start, gaps[0].end))
    missing = [p for p in later if start < fake.played_at(p) < end]
    assert len(missing) == 70
    assert len(lake_plays(lake)) == 60
    export = write_export(tmp_path, fake)
    version = lake_version(lake)
    summary = ingest_paths(lake, [export], user_id="me", settings=logged_in)
    assert [c.filled for c in summary.gaps_closed] == [70]
    assert summary.snapshot == version + 1  # closed in the import's own transaction
    [gap] = lake_gaps(lake)
    assert not gap.open and gap.filled == 70 and gap.closed_by == f"import of {export.name}"
    plays = lake_plays(lake)
    assert len(plays) == 130 == len({p["play_id"] for p in plays})


def test_gap_is_not_closed_by_an_export_that_stops_before_it(logged_in: Settings, fake: FakeSpotify, lake: Any,
                                                             tmp_path: Path) -> None:
    first = fake.add_plays(10, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        fake.add_plays(120, start=first[-1].end, seed=3)
        collector.poll()
    old = tmp_path / "old.json"
    old.write_text(json.dumps(fake.export_rows(first)))
    assert ingest_paths(lake, [old], user_id="me", settings=logged_in).gaps_closed == []
    assert [g.open for g in lake_gaps(lake)] == [True]


def test_first_poll_over_an_imported_export_records_the_gap_to_it(logged_in: Settings, fake: FakeSpotify,
                                                                  lake: Any, tmp_path: Path) -> None:
    exported = fake.add_plays(20, start=T0)
    ingest_paths(lake, [write_export(tmp_path, fake)], user_id="me", settings=logged_in)
    fake.add_plays(90, start=exported[-1].end, seed=6)  # the collector starts later: 40 of them are gone
    with Collector(logged_in, lake, "me") as collector:
        result = collector.poll()
    assert result.gap is not None and result.written == 50
    export = tmp_path / "later" / "Streaming_History_Audio_2026_1.json"
    export.parent.mkdir()
    export.write_text(json.dumps(fake.export_rows()))
    summary = ingest_paths(lake, [export], user_id="me", settings=logged_in)
    assert [c.filled for c in summary.gaps_closed] == [40]
    assert len(lake_plays(lake)) == 110


def test_first_poll_without_a_full_window_records_no_gap(logged_in: Settings, fake: FakeSpotify, lake: Any,
                                                         tmp_path: Path) -> None:
    exported = fake.add_plays(20, start=T0)
    ingest_paths(lake, [write_export(tmp_path, fake)], user_id="me", settings=logged_in)
    fake.add_plays(12, start=exported[-1].end, seed=6)
    with Collector(logged_in, lake, "me") as collector:
        result = collector.poll()
    assert result.gap is None and result.written == 12 and len(lake_plays(lake)) == 32


def test_a_gap_is_committed_with_its_polls_plays_and_a_retried_poll_keeps_one(logged_in: Settings, fake: FakeSpotify,
                                                                             lake: Any) -> None:
    first = fake.add_plays(10, start=T0)
    cursor = Path(logged_in.state) / "spotify" / "me" / "cursor.json"
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        fake.add_plays(120, start=first[-1].end, seed=3)
        before = cursor.read_bytes()
        version = lake_version(lake)
        result = collector.poll()
    assert result.gap_recorded and result.summary is not None
    assert result.summary.snapshot == version + 1 == lake_version(lake)  # plays and gap: one snapshot
    assert len(lake_gaps(lake)) == 1
    # A crash after the commit and before the cursor file was replaced: the retry re-reads the
    # same window; its plays are in the lake already and so is the gap: nothing is written.
    cursor.write_bytes(before)
    with Collector(logged_in, lake, "me") as collector:
        again = collector.poll()
    assert again.gap is not None and not again.gap_recorded
    assert again.summary is not None and again.summary.snapshot is None and lake_version(lake) == version + 1
    assert [g.open for g in lake_gaps(lake)] == [True] and len(lake_plays(lake)) == 60
