"""Data versions: the book's judgement, the follower (driven by hand, no sleeping), and the
engine's use of them in L1 (one process; L2 and several processes are in integration/ and e2e/)."""

from __future__ import annotations

import asyncio

import pytest

from kasoku.engine.engine import Engine
from kasoku.engine.types import Dataset, Policy, Query
from kasoku.engine.versions import Book, Follower
from tests.fakes import Clock, FakeVersions, VersionedSource

JAN, FEB = "month:2024-01", "month:2024-02"


def q(*tags: str) -> Query:
    return Query("d", "t", {"tags": list(tags)})


def value(served) -> int:  # type: ignore[no-untyped-def]
    return int(served.entry.table()["v"][0].as_py())


# -- the book --------------------------------------------------------------------------------
def test_book_judges_by_the_version_each_tag_last_changed() -> None:
    book = Book()
    assert book.stale(5, [JAN])  # nothing known yet: nothing can be trusted
    book.start(5)
    assert not book.stale(5, [JAN]) and not book.stale(9, [JAN])
    assert book.stale(4, [JAN])  # older than what this process has followed
    assert book.stale(None, [JAN])
    book.learn(6, frozenset({JAN}))
    assert book.stale(5, [JAN, "dataset:d"]) and not book.stale(5, [FEB]) and not book.stale(6, [JAN])
    book.learn(7, None)  # everything changed
    assert book.stale(6, [FEB]) and not book.stale(7, [JAN]) and book.latest == 7


def test_book_overflow_folds_forgotten_tags_into_the_floor() -> None:
    book = Book(max_tags=2)
    book.start(1)
    book.learn(2, frozenset({"a"}))
    book.learn(3, frozenset({"b"}))
    book.learn(4, frozenset({"c"}))  # "a" is forgotten: everything before 2 is stale
    assert len(book.changed) == 2 and book.floor == 2
    assert book.stale(1, ["z"]) and not book.stale(2, ["z"]) and book.stale(3, ["c"])


def test_book_extends_its_horizon_backwards() -> None:
    book = Book()
    book.start(10)
    book.extend(7, 10, frozenset({JAN}))
    assert book.horizon == 7 and not book.stale(7, [FEB]) and book.stale(7, [JAN])


# -- the follower ------------------------------------------------------------------------------
class Ticks:
    """An injected ``sleep``: each call waits until the test lets one interval pass."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self.intervals: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.intervals.append(seconds)
        done = asyncio.get_running_loop().create_future()
        await self.waiting.put(done)
        await done

    async def tick(self) -> None:
        (await self.waiting.get()).set_result(None)
        for _ in range(5):  # let the check that follows run to its next sleep
            await asyncio.sleep(0)


async def test_follower_polls_each_interval_and_drops_exactly_what_changed() -> None:
    versions = FakeVersions(version=3)
    dropped: list[tuple[str, frozenset[str] | None]] = []

    async def drop(dataset: str, tags: frozenset[str] | None) -> None:
        dropped.append((dataset, tags))

    ticks = Ticks()
    follower = Follower(drop, sleep=ticks)
    follower.follow("d", versions, interval=2.0)
    await follower.start()
    book = follower.book("d")
    assert book is not None and book.latest == 3 and versions.reads == 1
    await ticks.tick()
    assert dropped == [] and versions.reads == 2  # polled, nothing changed
    versions.change({JAN})
    versions.change({FEB})
    await ticks.tick()
    assert dropped == [("d", frozenset({JAN, FEB}))] and book.latest == 5
    versions.change(None)
    await ticks.tick()
    assert dropped[-1] == ("d", None) and book.floor == 6
    assert set(ticks.intervals) == {2.0}
    await follower.close()


async def test_a_failing_version_read_keeps_the_book_and_is_counted() -> None:
    versions = FakeVersions()
    follower = Follower(lambda _d, _t: asyncio.sleep(0))
    follower.follow("d", versions, interval=1.0)
    await follower.check("d")
    versions.change({JAN})
    versions.fail = OSError("catalog unreachable")
    assert await follower.check("d") is False
    assert follower.stats()["d"]["failures"] == 1 and follower.book("d").latest == 1  # type: ignore[union-attr]
    versions.fail = None
    assert await follower.check("d") is True and follower.book("d").stale(1, [JAN])  # type: ignore[union-attr]


async def test_checks_are_counted_and_the_version_is_a_gauge() -> None:
    from kasoku.engine.metrics import Metrics

    metrics = Metrics()
    versions = FakeVersions(version=4)
    follower = Follower(lambda _d, _t: asyncio.sleep(0), metrics=metrics)
    follower.follow("d", versions, interval=1.0)
    await follower.check("d")
    versions.change({JAN})
    await follower.check("d")
    text = metrics.render().decode()
    assert 'kasoku_data_version{dataset="d"} 5.0' in text
    assert 'kasoku_version_checks_total{dataset="d",outcome="changed"} 1.0' in text
    assert 'kasoku_version_checks_total{dataset="d",outcome="unchanged"} 1.0' in text


async def test_a_version_that_goes_back_drops_the_dataset() -> None:
    versions = FakeVersions(version=9)
    dropped: list[frozenset[str] | None] = []

    async def drop(_dataset: str, tags: frozenset[str] | None) -> None:
        dropped.append(tags)

    follower = Follower(drop)
    follower.follow("d", versions, interval=1.0)
    await follower.check("d")
    versions.version = 2  # a new lake
    assert await follower.check("d") is True and dropped == [None]
    assert follower.book("d").latest == 2 and not follower.book("d").stale(2, [JAN])  # type: ignore[union-attr]


def test_follow_rejects_a_bad_interval_and_a_second_follow() -> None:
    follower = Follower(lambda _d, _t: asyncio.sleep(0))
    with pytest.raises(ValueError):
        follower.follow("d", FakeVersions(), interval=0)
    follower.follow("d", FakeVersions(), interval=1)
    with pytest.raises(ValueError):
        follower.follow("d", FakeVersions(), interval=1)


# -- the engine ----------------------------------------------------------------------------------
async def engine_over(versions: FakeVersions, source: VersionedSource, clock: Clock) -> Engine:
    engine = Engine(l1_bytes=10**7, clock=clock)
    engine.register(Dataset("d", Policy(ttl_l1=3600, ttl_l2=3600), source))
    engine.follow("d", versions, interval=2.0)
    await engine.versions.check("d")  # what start() does first, without the loop
    return engine


async def test_a_change_drops_exactly_its_tags_from_l1(clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions)
    engine = await engine_over(versions, source, clock)
    jan, feb = await engine.get(q(JAN)), await engine.get(q(FEB))
    assert (jan.entry.version, value(jan)) == (1, 1)
    versions.change({JAN})
    assert await engine.check_versions("d") is True
    assert (await engine.get(q(FEB))).outcome == "hit"
    again = await engine.get(q(JAN))
    assert (again.outcome, value(again), again.entry.version) == ("miss", 2, 2) and source.runs == 3
    assert feb.entry.version == 1  # untouched: still the answer of version 1, still right


async def test_an_answer_computed_from_a_version_retired_meanwhile_is_returned_not_kept(clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions, delay=0.05)
    engine = await engine_over(versions, source, clock)
    running = asyncio.ensure_future(engine.get(q(JAN)))
    await asyncio.sleep(0.01)  # the source read version 1 and is still working
    versions.change({JAN})
    await engine.check_versions("d")
    late = await running
    assert (late.outcome, value(late)) == ("miss", 1)  # its caller asked before the change
    fresh = await engine.get(q(JAN))
    assert (fresh.outcome, value(fresh)) == ("miss", 2) and source.runs == 2


async def test_a_request_after_the_change_never_joins_an_older_run(clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions, delay=0.05)
    engine = await engine_over(versions, source, clock)
    first = asyncio.ensure_future(engine.get(q(JAN)))
    await asyncio.sleep(0.01)
    versions.change({JAN})
    await engine.check_versions("d")
    second = await engine.get(q(JAN))  # would have joined the version-1 run
    assert value(second) == 2 and value(await first) == 1


async def test_a_source_that_reports_no_version_is_stamped_with_the_version_known_before(clock: Clock) -> None:
    versions = FakeVersions()
    source = VersionedSource(versions, delay=0.05, silent=True)
    engine = await engine_over(versions, source, clock)
    assert (await engine.get(q(JAN))).entry.version == 1
    versions.change({FEB})
    running = asyncio.ensure_future(engine.get(q(FEB)))
    await asyncio.sleep(0.01)
    # The run started knowing version 1 (it may have read 2: the stamp errs on the old side).
    await engine.check_versions("d")
    assert (await running).entry.version == 1
    assert (await engine.get(q(FEB))).outcome == "miss"


async def test_nothing_is_cached_before_the_first_version_is_known(clock: Clock) -> None:
    versions = FakeVersions()
    versions.fail = OSError("catalog not there yet")
    source = VersionedSource(versions, silent=True)
    engine = await engine_over(versions, source, clock)
    assert (await engine.get(q(JAN))).outcome == "miss"
    assert (await engine.get(q(JAN))).outcome == "miss" and engine.l1.count == 0
    versions.fail = None
    await engine.check_versions("d")
    await engine.get(q(JAN))
    assert (await engine.get(q(JAN))).outcome == "hit"


async def test_datasets_that_are_not_followed_carry_no_version(clock: Clock) -> None:
    engine = Engine(l1_bytes=10**7, clock=clock)
    engine.register(Dataset("d", Policy(), VersionedSource(FakeVersions(), silent=True)))
    served = await engine.get(q(JAN))
    assert served.entry.version is None and (await engine.get(q(JAN))).outcome == "hit"
    assert await engine.check_versions("d") is False
