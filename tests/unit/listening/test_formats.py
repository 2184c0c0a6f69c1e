"""Every Spotify export format → one plays table; malformed input → a clear InputError."""

from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
import pytest

from kasoku.domains.listening.formats import read_sources
from kasoku.errors import InputError

EXTENDED = [
    {"ts": "2024-03-01T08:15:30Z", "platform": "android", "ms_played": 201000, "conn_country": "JP", "ip_addr": "192.0.2.1",
     "master_metadata_track_name": "Idol", "master_metadata_album_artist_name": "YOASOBI",
     "master_metadata_album_album_name": "Idol", "spotify_track_uri": "spotify:track:1hAloWiinXLPQUJxrJReb1",
     "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None, "reason_start": "clickrow",
     "reason_end": "trackdone", "shuffle": False, "skipped": None, "offline": False, "offline_timestamp": 1709280930,
     "incognito_mode": False},
    {"ts": "2024-03-01T09:00:00Z", "platform": "ios", "ms_played": 1800000, "conn_country": "JP",
     "master_metadata_track_name": None, "master_metadata_album_artist_name": None, "master_metadata_album_album_name": None,
     "spotify_track_uri": None, "episode_name": "Episode 12", "episode_show_name": "Tech Talk", "spotify_episode_uri":
     "spotify:episode:abc", "reason_start": "clickrow", "reason_end": "endplay", "shuffle": False, "skipped": None},
    {"ts": "2024-03-02T22:01:02Z", "platform": "linux", "ms_played": 5000, "conn_country": "JP",
     "master_metadata_track_name": "Usseewa", "master_metadata_album_artist_name": "Ado",
     "master_metadata_album_album_name": "Kyogen", "spotify_track_uri": "spotify:track:6E4dC3l1SbkBqrkJ1iYgpc",
     "reason_start": "fwdbtn", "reason_end": "fwdbtn", "shuffle": True, "skipped": True, "offline_timestamp": 1709416862000},
]
OLD_ENDSONG = [{"ts": "2019-05-01T10:00:00Z", "username": "someone", "platform": "Android OS", "ms_played": 1000,
                "conn_country": "JP", "ip_addr_decrypted": "192.0.2.2", "user_agent_decrypted": "unknown",
                "master_metadata_track_name": "Polyrhythm", "master_metadata_album_artist_name": "Perfume",
                "master_metadata_album_album_name": "GAME", "spotify_track_uri": "spotify:track:0abc",
                "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": False, "skipped": None,
                "offline": False, "offline_timestamp": 0, "incognito_mode": False}]
ACCOUNT = [{"endTime": "2024-03-01 08:15", "artistName": "YOASOBI", "trackName": "Idol", "msPlayed": 201000},
           {"endTime": "2024-03-05 12:00", "artistName": "Aimer", "trackName": "Zankyosanka", "msPlayed": 185000}]
WEBAPI = {"items": [{"track": {"id": "1hAloWiinXLPQUJxrJReb1", "name": "Idol", "duration_ms": 213000, "type": "track",
                               "artists": [{"id": "64tJ2EAv1R6UaZqc4iOCyj", "name": "YOASOBI"}],
                               "album": {"id": "x", "name": "Idol"}, "explicit": False, "popularity": 80},
                     "played_at": "2024-03-07T10:00:00.000Z", "context": None}], "next": None, "cursors": None}
ARTISTS = {"artists": [{"id": "64tJ2EAv1R6UaZqc4iOCyj", "name": "YOASOBI", "genres": ["j-pop", "anime"], "type": "artist"}]}


def write(path: Path, value: object) -> Path:
    path.write_bytes(orjson.dumps(value))
    return path


def test_extended_history(tmp_path: Path) -> None:
    parsed = read_sources([write(tmp_path / "Streaming_History_Audio_2024_0.json", EXTENDED)], user_id="me")
    assert parsed.plays.num_rows == 2 and parsed.episodes.num_rows == 1
    first = parsed.plays.to_pylist()[0]
    assert first["track_id"] == "1hAloWiinXLPQUJxrJReb1" and first["artist_name"] == "YOASOBI"
    assert first["played_at"].isoformat() == "2024-03-01T08:15:30+00:00" and first["ms_played"] == 201000
    assert first["source"] == "extended" and first["country"] == "JP" and first["skipped"] is None
    assert parsed.plays.to_pylist()[1]["skipped"] is True
    assert parsed.months == {"2024-03"}
    assert parsed.by_format["extended"] == 1


def test_old_endsong_files_and_account_data_and_webapi(tmp_path: Path) -> None:
    files = [write(tmp_path / "endsong_0.json", OLD_ENDSONG), write(tmp_path / "StreamingHistory_music_0.json", ACCOUNT),
             write(tmp_path / "recently.json", WEBAPI), write(tmp_path / "artists.json", ARTISTS)]
    parsed = read_sources(files, user_id="me")
    by_source = {r["source"] for r in parsed.plays.to_pylist()}
    assert by_source == {"extended", "account", "webapi"}
    account = [r for r in parsed.plays.to_pylist() if r["source"] == "account"]
    assert all(r["track_id"].startswith("local:") for r in account)
    web = [r for r in parsed.plays.to_pylist() if r["source"] == "webapi"][0]
    # played_at from the Web API is the start; the plays table holds the end of the play.
    assert web["played_at"].isoformat() == "2024-03-07T10:03:33+00:00" and web["ms_played"] == 213000
    assert parsed.artists.to_pylist() == [{"artist_id": "64tJ2EAv1R6UaZqc4iOCyj", "artist_name": "YOASOBI", "genres": ["j-pop", "anime"]}]


def test_zip_and_directory_inputs_read_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "export" / "Spotify Extended Streaming History"
    folder.mkdir(parents=True)
    write(folder / "Streaming_History_Audio_2024_0.json", EXTENDED)
    (folder / "ReadMeFirst.pdf").write_bytes(b"%PDF")
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json", orjson.dumps(EXTENDED))
    from_dir = read_sources([tmp_path / "export"], user_id="me")
    from_zip = read_sources([archive], user_id="me")
    assert from_dir.plays.equals(from_zip.plays)


def test_reimport_and_reordering_give_the_same_ids(tmp_path: Path) -> None:
    a = read_sources([write(tmp_path / "a.json", EXTENDED)], user_id="me")
    b = read_sources([write(tmp_path / "b.json", list(reversed(EXTENDED)))], user_id="me")
    assert sorted(a.plays["play_id"].to_pylist()) == sorted(b.plays["play_id"].to_pylist())
    twice = read_sources([tmp_path / "a.json", tmp_path / "b.json"], user_id="me")
    assert twice.plays.num_rows == 2 and twice.skipped["duplicate_in_import"] == 2


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not valid JSON"),
    ("[]".encode("utf-16"), "UTF-16"),
    (orjson.dumps([{"ts": "yesterday", "ms_played": 1}]), "ts is not a timestamp"),
    (orjson.dumps([{"ts": "2024-01-01T00:00:00Z", "ms_played": "long"}]), "ms_played must be"),
    (orjson.dumps([{"endTime": "2024-01-01 00:00", "msPlayed": 5, "artistName": "", "trackName": "x"}]), "artistName"),
    (orjson.dumps({"something": "else"}), "unexpected JSON shape"),
])
def test_malformed_files_name_the_file_and_record(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "Streaming_History_Audio_2024_3.json"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_sources([write(tmp_path / "good.json", EXTENDED), bad], user_id="me")
    assert "Streaming_History_Audio_2024_3.json" in info.value.message


def test_bad_record_index_is_reported(tmp_path: Path) -> None:
    records = EXTENDED + [{"ts": "2024-13-45T00:00:00Z", "ms_played": 1}]
    with pytest.raises(InputError) as info:
        read_sources([write(tmp_path / "x.json", records)], user_id="me")
    assert info.value.record == 3 and "(record 3)" in info.value.message


def test_zero_ms_streams_are_skipped_and_counted(tmp_path: Path) -> None:
    parsed = read_sources([write(tmp_path / "x.json", [dict(EXTENDED[0], ms_played=0), EXTENDED[2]])], user_id="me")
    assert parsed.plays.num_rows == 1 and parsed.skipped["zero_ms_played"] == 1


@pytest.mark.parametrize("record, message", [
    (dict(EXTENDED[0], master_metadata_track_name=5), "master_metadata_track_name must be a string"),
    (dict(EXTENDED[0], platform=3), "platform must be a string"),
    (dict(EXTENDED[0], ms_played=1e20), "ms_played must be"),
    (dict(EXTENDED[0], shuffle="yes"), "shuffle must be"),
])
def test_wrongly_typed_fields_are_input_errors_not_tracebacks(tmp_path: Path, record: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_sources([write(tmp_path / "x.json", [EXTENDED[2], record])], user_id="me")


def test_malformed_webapi_items_are_input_errors(tmp_path: Path) -> None:
    bad_album = {"items": [dict(WEBAPI["items"][0], track=dict(WEBAPI["items"][0]["track"], album=[1]))]}
    with pytest.raises(InputError, match="album"):
        read_sources([write(tmp_path / "a.json", bad_album)], user_id="me")
    with pytest.raises(InputError, match="unexpected JSON shape"):
        read_sources([write(tmp_path / "StreamingHistory_music_0.json", {"items": [1]})], user_id="me")


REPEATS = [{"endTime": "2024-03-09 21:04", "artistName": "Ado", "trackName": "Usseewa", "msPlayed": 30000},
           {"endTime": "2024-03-09 21:04", "artistName": "Ado", "trackName": "Usseewa", "msPlayed": 30000},
           {"endTime": "2024-03-09 21:04", "artistName": "Ado", "trackName": "Odo", "msPlayed": 4000}]


def test_account_plays_of_one_track_ending_in_one_minute_stay_apart(tmp_path: Path) -> None:
    """Account data has minute precision and no ids: two plays of a short track (or two skips)
    ending in one minute are two plays, and a re-import of the same export still dedupes."""
    one = write(tmp_path / "StreamingHistory_music_0.json", REPEATS)
    parsed = read_sources([one], user_id="me")
    assert parsed.plays.num_rows == 3
    assert len(set(parsed.plays["play_id"].to_pylist())) == 3
    (tmp_path / "again").mkdir()
    copy = write(tmp_path / "again" / "StreamingHistory_music_0.json", REPEATS)
    twice = read_sources([one, copy], user_id="me")  # the same export imported twice in one go
    assert twice.plays.num_rows == 3 and twice.skipped["duplicate_in_import"] == 3
    assert sorted(twice.plays["play_id"].to_pylist()) == sorted(parsed.plays["play_id"].to_pylist())


def test_the_first_play_of_a_minute_keeps_the_id_it_always_had(tmp_path: Path) -> None:
    """Lakes written before the fix dedupe against re-imports: the first occurrence's id is unchanged."""
    from datetime import datetime, timezone

    from kasoku.domains.listening.schema import play_id

    parsed = read_sources([write(tmp_path / "StreamingHistory_music_0.json", REPEATS[:2])], user_id="me")
    old = play_id("me", "Ado", "Usseewa", datetime(2024, 3, 9, 21, 4, tzinfo=timezone.utc))
    assert parsed.plays["play_id"].to_pylist()[0] == old
