"""LakeClient behaviour beyond the shared contract: an empty lake, imports seen at once, records
held once, the artificial delay, threads, and the fetch size limit."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from kasoku.domains.racing.clients import LakeClient
from kasoku.domains.racing.clients.base import FetchTooLarge
from kasoku.domains.racing.lake_import import import_files
from kasoku.lake.ducklake import Lake

from ._jvdata import make_record, write_jvd

DAYS_SE = [make_record("SE", created=f"202401{d:02d}", body=f"1{n:02d}") for d in (4, 5, 6) for n in (1, 2)]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    import_files(lake, [write_jvd(tmp_path / "race.jvd", DAYS_SE)])
    return lake


def test_an_empty_lake_has_no_data(tmp_path: Path) -> None:
    c = LakeClient(Lake(str(tmp_path / "empty")))
    assert c.fetch_stored("RACE", "20240101000000") == []
    assert c.fetch_realtime("0B15", "20240106") == []


def test_an_import_is_seen_by_the_next_call(lake: Lake, tmp_path: Path) -> None:
    c = LakeClient(lake)
    assert c.fetch_stored("RACE", "20240106000000") == DAYS_SE[4:]
    new = [make_record("SE", created="20240106", body="103"), make_record("RA", created="20240107")]
    import_files(lake, [write_jvd(tmp_path / "more.jvd", new)])
    assert c.fetch_stored("RACE", "20240106000000") == [*DAYS_SE[4:], *new]  # a day grows at its end


def test_a_record_is_held_once_per_dataspec_and_day(lake: Lake, tmp_path: Path) -> None:
    again = import_files(lake, [write_jvd(tmp_path / "again.jvd", [DAYS_SE[0], DAYS_SE[0], DAYS_SE[5]])])
    assert again.raw_added == 0
    assert LakeClient(lake).fetch_stored("RACE", "20240101000000") == DAYS_SE
    other = import_files(lake, [write_jvd(tmp_path / "rt.jvd", [DAYS_SE[5]])], dataspec="0B15")
    assert other.raw_added == 1  # the same bytes under another dataspec are another delivery
    assert LakeClient(lake).fetch_realtime("0B15", "20240106") == [DAYS_SE[5]]


def test_artificial_delay_uses_the_given_rng(lake: Lake) -> None:
    slept: list[float] = []
    c = LakeClient(lake, delay=(0.020, 0.040), rng=random.Random(7), sleep=slept.append)
    c.fetch_stored("RACE", "20240101000000")
    c.fetch_realtime("0B15", "20240106")
    expected = random.Random(7)
    assert slept == [expected.uniform(0.020, 0.040), expected.uniform(0.020, 0.040)]


def test_bad_delay_range(lake: Lake) -> None:
    with pytest.raises(ValueError):
        LakeClient(lake, delay=(0.5, 0.1))


def test_concurrent_reads_agree(lake: Lake) -> None:
    c = LakeClient(lake)
    results: list[list[bytes]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            got = c.fetch_stored("RACE", "20240101000000")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60 and all(r == DAYS_SE for r in results)
    assert c.status()["calls"] == 60


def test_a_fetch_larger_than_the_limit_is_413_before_reading(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    records = [make_record("RA", created=f"202401{d:02d}", body=f"{d:03d}") for d in range(1, 11)]
    import_files(lake, [write_jvd(tmp_path / "race.jvd", records)])
    small = LakeClient(lake, max_fetch_bytes=3 * 1272)
    with pytest.raises(FetchTooLarge) as info:
        small.fetch_stored("RACE", "20240101000000")
    assert info.value.status == 413 and "narrow" in info.value.message
    assert small.fetch_stored("RACE", "20240108000000") == records[7:]  # a later from_time fits
