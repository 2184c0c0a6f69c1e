"""A racing app over the demo imported into a lake, with a counting upstream and a test clock."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.domains.racing.clients.base import UpstreamClient
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.domains.racing.demo import DemoData, generate, import_demo_lake
from kasoku.domains.racing.domain import RacingDomain
from kasoku.engine.engine import Engine
from kasoku.lake.ducklake import Lake


class Clock:
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class CountingClient:
    """Wraps an upstream client: records every call; a gate can hold calls until released."""

    inner: UpstreamClient
    name: str = "lake"
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    stored_gate: threading.Event | None = None
    realtime_gate: threading.Event | None = None

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        self.calls.append(("stored", dataspec, fromtime, option))
        if self.stored_gate is not None:
            self.stored_gate.wait(10)
        return self.inner.fetch_stored(dataspec, fromtime, option)

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        self.calls.append(("realtime", dataspec, key))
        if self.realtime_gate is not None:
            self.realtime_gate.wait(10)
        return self.inner.fetch_realtime(dataspec, key)

    def status(self) -> dict[str, Any]:
        return self.inner.status()

    def close(self) -> None:
        self.inner.close()

    def count(self, kind: str | None = None, dataspec: str | None = None) -> int:
        return sum(1 for c in self.calls if (kind is None or c[0] == kind) and (dataspec is None or c[1] == dataspec))


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return generate()


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory, demo: DemoData) -> Lake:
    """The demo imported into a lake once per session; tests that import more copy it first."""
    lake = Lake(str(tmp_path_factory.mktemp("racing-demo") / "lake"))
    import_demo_lake(lake, demo=demo)
    return lake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def upstream(demo_lake: Lake) -> CountingClient:
    return CountingClient(LakeClient(demo_lake))


def make_app(tmp_path: Path, client: UpstreamClient, clock: Clock, **settings: Any) -> tuple[FastAPI, RacingDomain]:
    s = Settings(lake=str(tmp_path / "lake"), **settings)
    domain = RacingDomain(s, client=client)
    app = create_app(s, [domain], engine=Engine(l1_bytes=s.cache_l1_bytes, clock=clock,
                                                 overrides={k: v.model_dump() for k, v in s.policies.items()}))
    return app, domain


@pytest.fixture
def racing(tmp_path: Path, upstream: CountingClient, clock: Clock) -> tuple[FastAPI, RacingDomain]:
    return make_app(tmp_path, upstream, clock)


@pytest.fixture
async def client(racing: tuple[FastAPI, RacingDomain]) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = racing
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c
