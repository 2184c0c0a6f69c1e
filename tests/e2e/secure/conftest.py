"""A listening server with two users' plays, its own state directory, and helpers to make keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI

from kasoku.config import LimitSettings, Settings
from kasoku.keys import KeyStore
from tests.plays import load_lake
from kasoku.service import build_app
from tests.plays import make_plays

TOKEN = "s3cret-admin"
BASE = "http://127.0.0.1"


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    months = {m: pa.concat_tables([make_plays(m, 200, seed=i, user="u1"), make_plays(m, 120, seed=i, user="u2")])
              for i, m in enumerate(["2024-01", "2024-02"])}
    load_lake(lake, months)
    return lake


@pytest.fixture
def settings(tmp_path: Path, lake_dir: Path) -> Settings:
    # The racing routes are there on every lake (the replay reads the lake's raw records).
    return Settings(lake=str(lake_dir), state=tmp_path / "state", user_id="u1", admin_token=TOKEN,
                    limits=LimitSettings(rate="1000/second"))


@pytest.fixture
def keys(app: FastAPI) -> KeyStore:
    """The running app's own key store (``kasoku keys`` writes the same file; a server sees
    such changes within a second — tests/unit/test_keys.py)."""
    store: KeyStore = app.state.authenticator.keys
    return store


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., FastAPI]:
    def make(**changes: Any) -> FastAPI:
        return build_app(settings.model_copy(update=changes))

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as c:
            yield c


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
