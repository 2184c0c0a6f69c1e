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
