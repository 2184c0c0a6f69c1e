"""FileClient behaviour beyond the shared contract: indexing, re-indexing, delay, threads."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from kasoku.domains.racing import archive
from kasoku.domains.racing.archive import import_files
from kasoku.domains.racing.clients import FileClient
from kasoku.errors import ConfigError

from ._jvdata import make_record, write_jvd


@pytest.fixture
def arc(tmp_path: Path) -> Path:
    recs = [make_record("SE", created=f"202401{d:02d}", body=f"1{n:02d}") for d in (4, 5, 6) for n in (1, 2)]
    import_files([write_jvd(tmp_path / "race.jvd", recs)], tmp_path / "arc")
    return tmp_path / "arc"


def test_missing_archive_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        FileClient(tmp_path / "nope")


def test_empty_archive_has_no_data(tmp_path: Path) -> None:
    c = FileClient(tmp_path)
    assert c.fetch_stored("RACE", "20240101000000") == []
    assert c.status()["generation"] == 0


def test_index_is_built_once_per_dataspec(arc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scanned: list[Path] = []
    real = archive.index_file

    def counting(path: Path) -> tuple[archive.Span, ...]:
        scanned.append(path)
        return real(path)

    monkeypatch.setattr(archive, "index_file", counting)
    c = FileClient(arc)
    for _ in range(3):
        assert len(c.fetch_stored("RACE", "20240101000000")) == 6
    assert len(c.fetch_stored("RACE", "20240106000000")) == 2
    assert len(scanned) == 3  # three day files, scanned once


def test_reindexes_when_the_archive_changes(arc: Path, tmp_path: Path) -> None:
    c = FileClient(arc)
    assert len(c.fetch_stored("RACE", "20240106000000")) == 2
    new = [make_record("SE", created="20240106", body="103"), make_record("RA", created="20240107")]
    import_files([write_jvd(tmp_path / "more.jvd", new)], arc)
    got = c.fetch_stored("RACE", "20240106000000")
    assert got[-2:] == new and len(got) == 4
    assert c.status()["reindexes"] == 1


def test_reads_only_the_indexed_prefix_while_an_import_appends(arc: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    c = FileClient(arc)
    before = c.fetch_stored("RACE", "20240106000000")
    # an import that has replaced the day file but not yet the manifest
    monkeypatch.setattr(archive, "manifest_signature", lambda _a: c._signature)
    import_files([write_jvd(tmp_path / "x.jvd", [make_record("SE", created="20240106", body="109")])], arc)
    assert c.fetch_stored("RACE", "20240106000000") == before


def test_artificial_delay_uses_the_given_rng(arc: Path) -> None:
    slept: list[float] = []
    c = FileClient(arc, delay=(0.020, 0.040), rng=random.Random(7), sleep=slept.append)
    c.fetch_stored("RACE", "20240101000000")
    c.fetch_realtime("0B15", "20240106")
    expected = random.Random(7)
    assert slept == [expected.uniform(0.020, 0.040), expected.uniform(0.020, 0.040)]
    assert all(0.020 <= s <= 0.040 for s in slept)


def test_bad_delay_range(arc: Path) -> None:
    with pytest.raises(ValueError):
        FileClient(arc, delay=(0.5, 0.1))


def test_concurrent_reads_agree(arc: Path) -> None:
    c = FileClient(arc)
    expected = c.fetch_stored("RACE", "20240101000000")
    c2 = FileClient(arc)  # cold index: threads race to build it
    results: list[list[bytes]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            got = c2.fetch_stored("RACE", "20240101000000")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160 and all(r == expected for r in results)
    assert c2.status()["calls"] == 160


def test_a_fetch_larger_than_the_limit_is_413_before_reading(tmp_path: Path) -> None:
    from kasoku.domains.racing.archive import import_files
    from kasoku.domains.racing.clients.base import FetchTooLarge
    from kasoku.domains.racing.clients.files import FileClient
    from tests.unit.racing_clients._jvdata import make_record

    arc = tmp_path / "arc"
    src = tmp_path / "race.jvd"
    src.write_bytes(b"".join(make_record("RA", created=f"202401{d:02d}", body=f"{d:03d}") for d in range(1, 11)))
    import_files([src], arc)
    small = FileClient(arc, max_fetch_bytes=3 * 1272)
    with pytest.raises(FetchTooLarge) as info:
        small.fetch_stored("RACE", "20240101000000")
    assert info.value.status == 413 and "narrow" in info.value.message
    assert len(small.fetch_stored("RACE", "20240108000000")) == 3  # a later from_time fits
