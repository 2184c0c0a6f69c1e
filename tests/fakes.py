"""Test doubles shared by unit and integration tests: a hand-driven clock and a counting source."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pyarrow as pa

from kasoku.engine.types import Query, Result


class Clock:
    """A test clock: time moves only when the test says so (no sleeping in TTL tests)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CountingSource:
    """A source that counts its runs and can be made slow or failing."""

    delay: float = 0.0
    runs: int = 0
    fail: Exception | None = None
    version: int = 0
    tags: frozenset[str] = field(default_factory=frozenset)

    async def run(self, query: Query) -> Result:
        self.runs += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        n = int(query.params.get("n", 3))
        table = pa.table({"i": list(range(n)), "v": [self.version] * n, "name": [f"row{i}" for i in range(n)]})
        return Result(table=table, tags=self.tags | frozenset(query.params.get("tags", [])), meta={"n": n})


class FakeVersions:
    """A VersionSource held in memory: ``change(tags)`` makes a new version; ``delay`` slows reads."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.log: list[tuple[int, frozenset[str] | None]] = []
        self.delay = 0.0
        self.fail: Exception | None = None
        self.reads = 0

    def change(self, tags: set[str] | frozenset[str] | None) -> int:
        self.version += 1
        self.log.append((self.version, None if tags is None else frozenset(tags)))
        return self.version

    async def _read(self) -> None:
        self.reads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    async def current(self) -> int:
        await self._read()
        return self.version

    async def changes(self, since: int) -> tuple[int, frozenset[str] | None]:
        await self._read()
        tags: set[str] = set()
        for version, changed in self.log:
            if version > since:
                if changed is None:
                    return self.version, None
                tags |= changed
        return self.version, frozenset(tags)


@dataclass
class VersionedSource:
    """A source over FakeVersions: reads the version when it starts (its snapshot), then takes
    ``delay`` seconds, and answers with that version (``Result.version`` unless ``silent``)."""

    versions: FakeVersions
    delay: float = 0.0
    silent: bool = False
    runs: int = 0

    async def run(self, query: Query) -> Result:
        self.runs += 1
        version = self.versions.version
        if self.delay:
            await asyncio.sleep(self.delay)
        table = pa.table({"v": [version]})
        tags = frozenset(query.params.get("tags", ["month:2024-01"]))
        return Result(table=table, tags=tags, version=None if self.silent else version)
