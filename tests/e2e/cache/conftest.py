"""Two real uvicorn server processes sharing one Redis (the test's own db)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "e2e-admin-token"


class Server:
    """A uvicorn process serving ``factory``; ``env`` adds to (or, None values, removes from) its environment."""

    def __init__(self, redis_url: str | None, *, factory: str = "tests.e2e.cache.fruit:create",
                 env: dict[str, str | None] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = dict(os.environ, KASOKU_ADMIN_TOKEN=TOKEN, KASOKU_REDIS_TIMEOUT="0.1",
                    KASOKU_BREAKER_RESET="0.3", KASOKU_BREAKER_FAILURES="2",
                    PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
        if redis_url is not None:
            full["KASOKU_REDIS_URL"] = redis_url
        for name, value in (env or {}).items():
            if value is None:
                full.pop(name, None)
            else:
                full[name] = value
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", factory,
                                      "--port", str(self.port), "--log-level", "warning"], cwd=ROOT, env=full)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=0.5).json()["cache"]["l2"] == (redis_url is not None):
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server on port {self.port} did not start")

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def two_servers(redis_url: str) -> Iterator[tuple[Server, Server]]:
    a = Server(redis_url)
    try:
        b = Server(redis_url)
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
