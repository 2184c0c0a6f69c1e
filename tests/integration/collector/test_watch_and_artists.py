"""The watched folder and artist metadata."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kasoku.config import Settings
from kasoku.domains.listening.collector.artists import ArtistMetadata
from kasoku.domains.listening.collector.jobs import collect_once
from kasoku.domains.listening.collector.watch import ImportFolder
from kasoku.domains.listening.collector.poll import Collector
from tests.integration.collector.conftest import lake_gaps, lake_plays, lake_rows
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc).timestamp() + 3600  # files written "now" are an hour old

    def __call__(self) -> float:
        return self.now


def test_dropped_zip_is_imported_once_and_moved_to_done(settings: Settings, fake: FakeSpotify, lake: Any,
                                                        tmp_path: Path) -> None:
    fake.add_plays(20, start=T0)
    inbox = tmp_path / "inbox"
    clock = Clock()
    folder = ImportFolder(settings, lake, inbox, user_id="me", clock=clock)
    with zipfile.ZipFile(inbox / "my_spotify_data.zip", "w") as archive:
        archive.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2026.json",
                         json.dumps(fake.export_rows()))
    assert folder.scan() == []  # first sight: not settled yet
    clock.now += settings.import_settle
    [done] = folder.scan()
    assert done.ok and done.summary and done.summary["new_plays"] == 20
    assert (inbox / "done" / "my_spotify_data.zip").is_file()
    assert json.loads((inbox / "done" / "my_spotify_data.zip.summary.json").read_text())["new_plays"] == 20
    clock.now += 100
    assert folder.scan() == [] and len(lake_plays(lake)) == 20


def test_a_dropped_export_closes_the_gap_and_its_summary_says_so(logged_in: Settings, fake: FakeSpotify, lake: Any,
                                                                 tmp_path: Path) -> None:
    first = fake.add_plays(10, start=T0)
    with Collector(logged_in, lake, "me") as collector:
        collector.poll()
        fake.add_plays(120, start=first[-1].end, seed=3)
        gap = collector.poll().gap
    assert gap is not None
    inbox = tmp_path / "inbox"
    clock = Clock()
    folder = ImportFolder(logged_in, lake, inbox, user_id="me", clock=clock)
    (inbox / "Streaming_History_Audio_2026.json").write_text(json.dumps(fake.export_rows()))
    folder.scan()
    clock.now += logged_in.import_settle
    [done] = folder.scan()
    assert done.ok
    report = json.loads((inbox / "done" / "Streaming_History_Audio_2026.json.summary.json").read_text())
    assert report["gaps_closed"] == [{"id": gap.id, "start": gap.start, "end": gap.end, "filled": 70}]
    assert report["matched_by_start"] == 60 and report["matched_by_end"] == 0
    [closed] = lake_gaps(lake)
    assert not closed.open and closed.closed_by == "import of Streaming_History_Audio_2026.json"


def test_partial_copies_are_left_alone(settings: Settings, lake: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    clock = Clock()
    folder = ImportFolder(settings, lake, inbox, user_id="me", clock=clock)
    (inbox / "export.zip.part").write_bytes(b"PK")
    (inbox / "export.zip.crdownload").write_bytes(b"PK")
    growing = inbox / "growing.json"
    for chunk in (b"[", b'{"ts": "2026'):
        with growing.open("ab") as out:
            out.write(chunk)
        assert folder.scan() == []
        clock.now += settings.import_settle
    assert not list((inbox / "done").iterdir()) and not list((inbox / "failed").iterdir())


def test_a_bad_file_goes_to_failed_with_its_error(settings: Settings, lake: Any, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    clock = Clock()
    folder = ImportFolder(settings, lake, inbox, user_id="me", clock=clock)
    (inbox / "Streaming_History_Audio_2026.json").write_text('[{"ts": "yesterday", "ms_played": 1}]')
    folder.scan()
    clock.now += settings.import_settle
    [failed] = folder.scan()
    assert not failed.ok
    error = (inbox / "failed" / "Streaming_History_Audio_2026.json.error.txt").read_text()
    assert "not a timestamp" in error and lake_plays(lake) == []


def test_new_artists_are_fetched_once_each_and_reach_the_artists_table(logged_in: Settings, fake: FakeSpotify,
                                                                       lake: Any) -> None:
    fake.add_plays(30, start=T0)  # 5 artists
    collect_once(logged_in, lake, ["me"])
    assert fake.count("/v1/artists/") == 5
    fake.add_plays(10, start=datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc), seed=9)
    collect_once(logged_in, lake, ["me"])
    assert fake.count("/v1/artists/") == 5  # same artists: cached for good, never per play
    artists = lake_rows(lake, "artists")
    assert sorted(str(a["artist_id"]) for a in artists) == [f"art{i:03d}" for i in range(5)]
    assert ArtistMetadata(logged_in, lake, None).load().artists["art001"]["images"]  # type: ignore[arg-type]


def test_artist_round_resumes_after_a_rate_limit(logged_in: Settings, fake: FakeSpotify, lake: Any) -> None:
    from kasoku.domains.listening.collector.api import SpotifyApi
    from kasoku.domains.listening.collector.auth import TokenStore

    fake.add_plays(30, start=T0)
    api = SpotifyApi(logged_in.spotify, TokenStore(logged_in.state, "me"))
    metadata = ArtistMetadata(logged_in, lake, api, sleep=lambda s: None)
    metadata.enqueue([f"art{i:03d}" for i in range(5)])
    fake.fail("/v1/artists/art002", 429, headers={"Retry-After": "99999"})
    first = metadata.run(user_id="me")
    assert first.fetched == 2 and first.queued == 3 and first.error
    second = metadata.run(user_id="me")
    assert second.fetched == 3 and second.queued == 0
    assert fake.count("/v1/artists/") == 6  # 5 artists + the one refused
    api.close()
