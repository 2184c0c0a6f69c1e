"""``kasoku serve --workers 2``: two processes on one port, sharing L2 (Redis) and coalescing.

The real CLI in a subprocess, the listening domain on an (empty) lake of its own. Which
worker answered is told by ``/admin/cache`` (``pid``); every
request opens a new connection, so the kernel hands them to both workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import free_port

from .conftest import ROOT, TOKEN

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


class Workers:
    def __init__(self, tmp: Path, redis_url: str, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, KASOKU_REDIS_URL=redis_url, KASOKU_ADMIN_TOKEN=TOKEN, KASOKU_STATE=str(tmp / "state"),
                   PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen([sys.executable, "-m", "kasoku", "serve", "--workers", str(workers),
                                      "--port", str(self.port), "--lake", str(tmp / "lake")], cwd=tmp, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kasoku serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("kasoku serve --workers did not answer")

    def stats_by_worker(self, workers: int = 2, tries: int = 200) -> dict[str, dict[str, Any]]:
        """The latest /admin/cache of each worker (new connection each time, until all were seen)."""
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(tries):
            stats = httpx.get(self.url + "/admin/cache", headers=ADMIN, timeout=5).json()
            seen[str(stats["pid"])] = stats
            if len(seen) == workers:
                break
        return seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Workers]:
    served = Workers(tmp_path, redis_url)
    try:
        yield served
    finally:
        served.stop()


def test_two_workers_on_one_port_answer_and_share_one_source_run(workers: Workers) -> None:
    assert len(workers.stats_by_worker()) == 2  # two processes answer on the one port
    route = workers.url + "/v1/listening/top-tracks?start=2024-01-01&end=2024-12-31&limit=5"
    bodies = {httpx.get(route, timeout=10).content for _ in range(30)}
    assert len(bodies) == 1
    stats = workers.stats_by_worker()
    assert len(stats) == 2
    assert sum(s["source_runs"] for s in stats.values()) == 1  # the other worker read L2 (or waited on the lease)
    assert all(s["datasets"]["listening"]["total"] >= 1 for s in stats.values())  # both answered data requests
