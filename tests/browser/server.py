"""A real kasoku server (uvicorn subprocess on a free loopback port) and headless Chromium,
for the browser tests and benchmarks/dashboard.py.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven by Playwright
for Python; ``playwright install`` is never run. Every flag that would make Chromium talk to
the network on its own (component updates, sync, background networking) is off, so the only
requests a page makes are its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.services import ServiceError, _stop, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]


def launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        raise ServiceError(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does: apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class KasokuServer:
    """``python -m uvicorn kasoku.service:build_app --factory`` with settings from the environment."""

    def __init__(self, env: dict[str, str], *, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **self.env}
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "kasoku.service:build_app", "--factory",
                                      "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"kasoku server exited with {self.proc.returncode}; log: {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise ServiceError(f"kasoku server did not answer /health within {timeout} s; log: {self.log}")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
