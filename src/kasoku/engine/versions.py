"""Data versions: the one freshness mechanism. Every worker follows each dataset's version itself.

A dataset whose data changes (the listening lake) gives the engine a :class:`VersionSource`.
The engine polls it (``Engine.follow``), and on a change asks what changed and drops exactly
those tags. Every entry records the version it was computed from, and a :class:`Book` per
dataset remembers, for each tag, the version at which it last changed, so:

- an entry (from L1 or L2) computed before its tags last changed is stale: a miss;
- an answer computed from an older version than the book knows changed its tags is returned
  to its caller but stored nowhere;
- L2 never lets an older version's answer overwrite a newer one (a compare in its Lua put).

Nothing here needs Redis or pub/sub: a worker that missed every broadcast still learns of a
new version by its own poll, within ``interval``. A broadcast only makes others poll sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from kasoku.engine.metrics import Metrics

log = logging.getLogger(__name__)

# Tags remembered per dataset; past it the oldest are folded into the dataset-wide floor.
MAX_TAGS = 4096


class VersionSource(Protocol):
    """Where a dataset's data version comes from (e.g. the lake's current snapshot id)."""

    async def current(self) -> int:
        """The current data version; cheap (it is polled every few seconds)."""
        ...

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        """(current version, tags whose answers may differ since ``since``; None = all of them)."""
        ...


@dataclass(slots=True)
class Book:
    """What this process knows of one dataset's versions.

    ``horizon``: changes are known for every version from here on (entries older than it are
    of unknown freshness: stale). ``floor``: entries computed before it are stale whatever
    their tags (a change of everything, or tags forgotten when the map overflowed).
    ``changed``: tag → the version at which this process learned it changed.
    """

    latest: int | None = None
    horizon: int | None = None
    floor: int = -1
    changed: OrderedDict[str, int] = field(default_factory=OrderedDict)
    max_tags: int = MAX_TAGS

    def stale(self, version: int | None, tags: Iterable[str]) -> bool:
        """Whether an answer computed from ``version`` and carrying ``tags`` may be out of date."""
        if version is None or self.horizon is None or version < self.horizon or version < self.floor:
            return True
        changed = self.changed
        if not changed:
            return False
        return any(changed.get(tag, -1) > version for tag in tags)

    def start(self, version: int) -> None:
        self.latest = self.horizon = version

    def learn(self, version: int, tags: frozenset[str] | None) -> None:
        """The data is now at ``version``; ``tags`` changed since the last version known (None: all)."""
        if tags is None:
            self.floor = max(self.floor, version)
            self.changed.clear()  # all older than the floor now: nothing to remember per tag
        else:
            for tag in tags:
                self.changed[tag] = version
                self.changed.move_to_end(tag)
            while len(self.changed) > self.max_tags:
                _tag, at = self.changed.popitem(last=False)
                self.floor = max(self.floor, at)  # forgetting a tag: everything older than it goes
        self.latest = version if self.latest is None else max(self.latest, version)

    def extend(self, since: int, version: int, tags: frozenset[str] | None) -> None:
        """Learn what changed between an older version ``since`` and ``version``: the horizon moves back."""
        self.learn(version, tags)
        if self.horizon is None or since < self.horizon:
            self.horizon = since


Drop = Callable[[str, frozenset[str] | None], Awaitable[None]]  # (dataset, tags or None = all)


@dataclass(slots=True)
class _Followed:
    source: VersionSource
    interval: float
    book: Book
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    checks: int = 0
    failures: int = 0
    last_error: str | None = None


class Follower:
    """Polls each followed dataset's version source and calls ``drop`` for what changed.

    ``drop`` must update nothing but caches; the book is updated *before* it is called, so
    an answer stored while the drop runs is already judged by the new book. ``sleep`` is
    passed in so that tests drive the loop without waiting.
    """

    def __init__(self, drop: Drop, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 metrics: Metrics | None = None) -> None:
        self._drop = drop
        self._metrics = metrics
        self._sleep = sleep
        self._followed: dict[str, _Followed] = {}
        self._nudged: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, dataset: str, source: VersionSource, *, interval: float) -> None:
        if dataset in self._followed:
            raise ValueError(f"dataset {dataset!r} is followed twice")
        if interval <= 0:
            raise ValueError(f"version poll interval must be positive, got {interval}")
        self._followed[dataset] = _Followed(source, interval, Book())

    def book(self, dataset: str) -> Book | None:
        """The dataset's book, or None when it is not followed (its entries carry no version)."""
        followed = self._followed.get(dataset)
        return followed.book if followed is not None else None

    def followed(self) -> list[str]:
        return sorted(self._followed)

    async def check(self, dataset: str) -> bool:
        """Read the version now; on a change learn what changed and drop it. True if it changed.

        A failing source is logged and counted, never raised: the previous book stays in force
        and the next poll tries again.
        """
        followed = self._followed.get(dataset)
        if followed is None:
            return False  # e.g. another worker's news of a dataset this one does not serve
        async with followed.lock:  # one check at a time per dataset: changes(since) needs a stable since
            followed.checks += 1
            try:
                changed = await self._check(dataset, followed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                followed.failures += 1
                followed.last_error = repr(exc)
                log.warning("version check of %s failed: %r", dataset, exc)
                self._count(dataset, "failed")
                return False
            followed.last_error = None
            self._count(dataset, "changed" if changed else "unchanged")
            return changed

    def _count(self, dataset: str, outcome: str) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        metrics.child(metrics.version_checks, dataset, outcome).inc()
        latest = self._followed[dataset].book.latest
        if latest is not None:
            metrics.child(metrics.data_version, dataset).set(latest)

    async def _check(self, dataset: str, followed: _Followed) -> bool:
        book = followed.book
        current = await followed.source.current()
        if book.latest is None:
            book.start(current)
            return False
        if current == book.latest:
            return False
        if current < book.latest:
            # The data went back (a lake replaced by an older or new one): nothing known holds.
            log.warning("%s: data version went back from %s to %s; dropping the dataset", dataset, book.latest, current)
            followed.book = Book(max_tags=book.max_tags)
            followed.book.start(current)
            await self._drop(dataset, None)
            return True
        version, tags = await followed.source.changes(book.latest)
        book.learn(max(version, current), tags)
        log.info("%s: data version %s, changed: %s", dataset, book.latest,
                 "everything" if tags is None else ", ".join(sorted(tags)) or "nothing")
        await self._drop(dataset, tags)
        return True

    async def extend(self, dataset: str, since: int) -> bool:
        """Learn what changed since an older version than this process started from (one call per version).

        Lets a worker that started at version 9 keep an L2 entry of version 7 whose tags did not
        change. False when the source could not say (the entry then counts as stale).
        """
        followed = self._followed[dataset]
        async with followed.lock:
            book = followed.book
            if book.horizon is not None and since >= book.horizon:
                return True
            try:
                version, tags = await followed.source.changes(since)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("version history of %s since %s unavailable: %r", dataset, since, exc)
                return False
            book.extend(since, version, tags)
            return True

    def nudge(self, dataset: str) -> None:
        """Check soon, in the background (another worker has seen a newer version); at most one pending."""
        if dataset in self._nudged or dataset not in self._followed:
            return
        self._nudged.add(dataset)

        async def run() -> None:
            try:
                await self.check(dataset)
            finally:
                self._nudged.discard(dataset)
        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """First check of every dataset (so answers can be cached from the start), then the poll loops."""
        for dataset in self._followed:
            await self.check(dataset)
        for dataset, followed in self._followed.items():
            if followed.task is None or followed.task.done():
                followed.task = asyncio.ensure_future(self._loop(dataset, followed))

    async def _loop(self, dataset: str, followed: _Followed) -> None:
        while True:
            await self._sleep(followed.interval)
            await self.check(dataset)

    def stats(self) -> dict[str, dict[str, object]]:
        return {name: {"version": f.book.latest, "since": f.book.horizon, "floor": f.book.floor,
                       "tags_known": len(f.book.changed), "interval": f.interval, "checks": f.checks,
                       "failures": f.failures, "last_error": f.last_error}
                for name, f in self._followed.items()}

    async def close(self) -> None:
        tasks = [*(f.task for f in self._followed.values() if f.task is not None), *self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for f in self._followed.values():
            f.task = None
