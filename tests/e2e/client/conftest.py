"""A real uvicorn server on a free loopback port, in a thread, over a small listening lake.

A thread (not the test's loop) because the sync client blocks: the server needs a loop of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.service import build_app
from tests.plays import load_lake, make_plays
from tests.services import free_port

TOKEN = "client-admin-token"
MONTHS = ["2024-01", "2024-02", "2024-03"]
PLAYS_PER_MONTH = 250


class ServerThread:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    lake_dir = tmp_path_factory.mktemp("client") / "lake"
    load_lake(lake_dir, {m: make_plays(m, PLAYS_PER_MONTH, seed=i) for i, m in enumerate(MONTHS)}, rollups=False)
    app = build_app(Settings(lake=str(lake_dir), user_id="u1", admin_token=TOKEN))
    with ServerThread(app) as running:
        yield running
