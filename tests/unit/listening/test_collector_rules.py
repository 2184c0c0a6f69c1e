"""Pure rules of the collector: PKCE, Retry-After, gap closing, the watched folder's names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.api import retry_after_seconds
from kasoku.domains.listening.collector.auth import authorize_url, challenge, new_verifier
from kasoku.domains.listening.collector.gaps import ExportPlay, closed_by_import, new_gap
from kasoku.domains.listening.collector.paths import user_dir
from kasoku.domains.listening.collector.watch import is_candidate

T = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    assert challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert 43 <= len(new_verifier()) <= 128 and new_verifier() != new_verifier()


def test_authorize_url_carries_pkce_and_a_loopback_ip() -> None:
    url = authorize_url(SpotifySettings(client_id="abc"), redirect="http://127.0.0.1:8888/callback",
                        verifier="v" * 64, state="s1")
    assert url.startswith("https://accounts.spotify.com/authorize?")
    assert "code_challenge_method=S256" in url and "redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcallback" in url


def test_retry_after() -> None:
    assert retry_after_seconds("5") == 5.0 and retry_after_seconds(None) == 1.0 and retry_after_seconds("soon") == 1.0


def play(start_min: float, minutes: float, track: str = "a\x1fx") -> ExportPlay:
    start = T + timedelta(minutes=start_min)
    return ExportPlay(start=start, end=start + timedelta(minutes=minutes), track=track)


def test_gap_counts_plays_inside_but_not_its_boundary_plays() -> None:
    # boundary plays: "b" at the gap's start (played_at = start) and "c" at its end; 3 plays between
    gap = new_gap("me", T, T + timedelta(minutes=20), now=T, reason="test", start_track="b\x1fy", end_track="c\x1fz")
    export = [play(-5, 5), play(0, 4, "b\x1fy"), play(4, 5), play(9, 5), play(14, 6), play(20, 4, "c\x1fz"), play(24, 4)]
    [(closed, inside)] = closed_by_import([gap], export)
    assert closed is gap and inside == 3


def test_an_export_that_ends_inside_the_gap_does_not_close_it() -> None:
    gap = new_gap("me", T, T + timedelta(minutes=20), now=T, reason="test")
    assert closed_by_import([gap], [play(-5, 5), play(0, 4), play(4, 5)]) == []


def test_user_ids_that_are_not_file_names_are_hashed(tmp_path: Path) -> None:
    assert user_dir(tmp_path, "me").name == "me"
    assert user_dir(tmp_path, "../etc").name.startswith("u-") and user_dir(tmp_path, "a/b").parent == tmp_path / "spotify"


def test_partial_downloads_are_not_candidates(tmp_path: Path) -> None:
    for name in ("export.zip.part", "export.zip.crdownload", ".hidden.json", "notes.txt", "x.json.tmp"):
        (tmp_path / name).write_text("x")
        assert not is_candidate(tmp_path / name)
    (tmp_path / "my_spotify_data.zip").write_text("x")
    assert is_candidate(tmp_path / "my_spotify_data.zip")
