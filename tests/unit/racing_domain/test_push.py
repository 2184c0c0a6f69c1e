"""The pure parts of odds push: interval bounds, close reasons, per-socket dedupe and drop-oldest."""

from __future__ import annotations

import pytest

from kasoku.domains.racing.push import MAX_INTERVAL, MIN_INTERVAL, QUEUE_SIZE, Watcher, close_reason, parse_interval


def test_interval_is_clamped_and_must_be_a_number() -> None:
    assert parse_interval(None) == 1.0
    assert parse_interval("0.01") == MIN_INTERVAL == 0.5
    assert parse_interval("2.5") == 2.5
    assert parse_interval("1e9") == MAX_INTERVAL
    assert parse_interval("0.01", minimum=0.05) == 0.05
    for bad in ["abc", "inf", "nan", ""]:
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_close_reason_fits_a_close_frame() -> None:
    assert close_reason("short") == "short"
    long = close_reason("馬" * 100)
    assert len(long.encode("utf-8")) <= 123 and long.endswith("...")


async def test_watcher_gets_each_etag_once_and_keeps_the_newest() -> None:
    watcher = Watcher(interval=1.0)
    watcher.offer("a", "A")
    watcher.offer("a", "A")
    assert watcher.queue.qsize() == 1
    for i in range(QUEUE_SIZE + 3):
        watcher.offer(str(i), f"frame {i}")
    frames = [watcher.queue.get_nowait() for _ in range(watcher.queue.qsize())]
    assert len(frames) == QUEUE_SIZE and frames[-1] == f"frame {QUEUE_SIZE + 2}"
