from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from kasoku.api.app import create_app
from kasoku.config import Settings
from kasoku.engine.engine import Engine
from tests.e2e.wire.memdomain import MemDomain


@pytest.fixture
def domain() -> MemDomain:
    return MemDomain()


class Clock:
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(domain: MemDomain, tmp_path: object, clock: Clock) -> FastAPI:
    settings = Settings(lake=str(tmp_path), batch_max_items=5, batch_concurrency=2, compress_min_bytes=1024)
    return create_app(settings, [domain], engine=Engine(l1_bytes=settings.cache_l1_bytes, clock=clock))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c
