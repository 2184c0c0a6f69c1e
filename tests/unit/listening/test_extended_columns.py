"""The columnar extended-history reader gives exactly the reference (row-by-row) reader's tables,
and hands every file it cannot vouch for to the reference (which names the file and record)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasoku.domains.listening.extended_columns import looks_extended, read_extended
from kasoku.domains.listening.formats import read_sources
from kasoku.errors import InputError

NAMES = st.sampled_from(["Idol", "q\"\\ \u00e9\n\t/", "idol ", " IDOL", "Straße", "STRASSE", "ﬁre", "Ado", "", "\u00a0x\u00a0", "x\x1f",
                         "Ǆemal", "İstanbul", "ΣΊΣΥΦΟΣ", "夜に駆ける", "YOASOBI"])
MAYBE_TEXT = st.one_of(st.none(), NAMES)
URIS = st.one_of(st.none(), st.sampled_from(["", "spotify:track:abc", "spotify:track:", "abc", "spotify:episode:e1",
                                              "a:b:c"]))
FLAG = st.one_of(st.none(), st.booleans())
TS = st.builds(lambda d, h, s: f"2024-0{d % 9 + 1}-{d % 28 + 1:02d}T{h:02d}:{s:02d}:{s:02d}Z",
               st.integers(0, 300), st.integers(0, 23), st.integers(0, 59))

RECORD = st.fixed_dictionaries(
    {"ts": TS, "ms_played": st.one_of(st.just(0), st.integers(1, 400_000))},
    optional={"platform": MAYBE_TEXT, "conn_country": MAYBE_TEXT, "master_metadata_track_name": MAYBE_TEXT,
              "master_metadata_album_artist_name": MAYBE_TEXT, "master_metadata_album_album_name": MAYBE_TEXT,
              "spotify_track_uri": URIS, "episode_name": MAYBE_TEXT, "episode_show_name": MAYBE_TEXT,
              "spotify_episode_uri": URIS, "audiobook_title": MAYBE_TEXT, "audiobook_uri": URIS,
              "audiobook_chapter_uri": URIS, "audiobook_chapter_title": MAYBE_TEXT, "reason_start": MAYBE_TEXT,
              "reason_end": MAYBE_TEXT, "shuffle": FLAG, "skipped": FLAG, "offline": FLAG, "incognito_mode": FLAG,
              "ip_addr": st.just("192.0.2.1"), "offline_timestamp": st.integers(0, 2**40)})


def _same(files: list[Path]) -> None:
    fast, ref = read_sources(files, user_id="me"), read_sources(files, user_id="me", columnar=False)
    assert fast.plays.equals(ref.plays)
    assert fast.episodes.equals(ref.episodes)
    assert (fast.skipped, fast.records, fast.files, dict(fast.by_format), fast.months) == \
        (ref.skipped, ref.records, ref.files, dict(ref.by_format), ref.months)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, min_size=1, max_size=40))
def test_columnar_equals_reference(tmp_path: Path, records: list[dict[str, Any]]) -> None:

    path = tmp_path / "Streaming_History_Audio_0.json"
    path.write_bytes(orjson.dumps(records))
    assert looks_extended(path.read_bytes())
    con = duckdb.connect()
    try:
        assert read_extended(con, path, "me") is not None  # the columnar reader vouches for it
    finally:
        con.close()
    _same([path])


def test_columnar_reads_zip_members_and_dedupes_across_files(tmp_path: Path) -> None:
    rec = {"ts": "2024-03-01T08:15:30Z", "ms_played": 1000, "master_metadata_track_name": "Idol",
           "master_metadata_album_artist_name": "YOASOBI", "spotify_track_uri": "spotify:track:1"}
    a = tmp_path / "a.json"
    a.write_bytes(orjson.dumps([rec, dict(rec, ms_played=2000, ts="2024-03-01T08:15:31Z")]))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Spotify Extended Streaming History/Streaming_History_Audio_0.json",
                   orjson.dumps([dict(rec, ms_played=3000), dict(rec, master_metadata_track_name="idol ")]))
    _same([a, archive])
    assert read_sources([a, archive], user_id="me").skipped["duplicate_in_import"] == 2


@pytest.mark.parametrize("bad, message", [
    ({"ms_played": 5.5}, None),  # a float: the reference accepts it (int()), the columnar reader declines
    ({"ts": "2024-03-01 08:15:30+09:00"}, None),  # another spelling: only the reference parses it
    ({"ts": "2024-13-01T08:15:30Z"}, "ts is not a timestamp"),
    ({"ms_played": -1}, "ms_played must be a non-negative number"),
    ({"platform": 7}, "platform must be a string"),
    ({"shuffle": "yes"}, "shuffle must be true, false or null"),
    ({"ts": None}, "ts must be a timestamp string"),
])
def test_declined_files_go_to_the_reference(tmp_path: Path, bad: dict[str, Any], message: str | None) -> None:
    good = {"ts": "2024-03-01T08:15:30Z", "ms_played": 1000, "master_metadata_track_name": "Idol",
            "master_metadata_album_artist_name": "YOASOBI", "spotify_track_uri": "spotify:track:1"}
    path = tmp_path / "Streaming_History_Audio_0.json"
    path.write_bytes(orjson.dumps([good, dict(good, **bad)]))
    con = duckdb.connect()
    assert read_extended(con, path, "me") is None
    con.close()
    if message is None:
        _same([path])
    else:
        with pytest.raises(InputError, match=message) as info:
            read_sources([path], user_id="me")
        assert info.value.details.get("record") == 1 and str(path) in str(info.value.details.get("path"))


def test_not_an_object_and_bad_json_are_declined(tmp_path: Path) -> None:
    good = b'{"ts": "2024-03-01T08:15:30Z", "ms_played": 1000}'
    for body, message in ((b"[" + good + b", 5]", "record is not a JSON object"),
                          (b"[" + good + b", null]", "record is not a JSON object"),
                          (b"[" + good + b", {\"ts\": ]", "not valid JSON"),
                          (b"[" + good[:-1] + b", \"ts\": \"x\"}]", None)):
        path = tmp_path / "Streaming_History_Audio_0.json"
        path.write_bytes(body)
        if message is None:  # a duplicate key: the reference keeps the last value (and rejects it here)
            with pytest.raises(InputError):
                read_sources([path], user_id="me")
            continue
        with pytest.raises(InputError, match=message):
            read_sources([path], user_id="me")
