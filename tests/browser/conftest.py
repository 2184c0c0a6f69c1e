"""Browser fixtures: demo-like data built once, one real server and one Chromium for the
whole package. Package-scoped, not session-scoped: Playwright's sync API keeps its own event
loop running while it is open, which would break every async test collected after these.

The listening history is the demo's (Spotify export files through the real importer, with
roll-ups and artist genres), a year ending today so "this week/month/year" have plays; the
racing data is the JV-Data demo, imported into the same lake.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.browser.server import KasokuServer, launch_chromium

ADMIN_TOKEN = "browser-test-token"
PLAYS = 6_000


def build_data(root: Path) -> dict[str, str]:
    from kasoku.domains.listening.demo import write_demo_export
    from kasoku.domains.listening.ingest import ingest
    from kasoku.domains.listening.rollup_build import RollupBuilder
    from kasoku.domains.racing.demo import generate, import_demo_lake
    from kasoku.lake.ducklake import Lake

    lake = Lake(str(root / "lake"))
    with ThreadPoolExecutor(1) as pool:  # the racing records' encoding overlaps the export's writing
        racing = pool.submit(generate)
        files = write_demo_export(root / "export", plays=PLAYS, years=1, end=datetime.now(timezone.utc).date())
        ingest(lake, files, user_id="me", rollups=RollupBuilder())
        record_a_gap(lake)
        import_demo_lake(lake, demo=racing.result())
    return {"KASOKU_LAKE": str(root / "lake"), "KASOKU_ADMIN_TOKEN": ADMIN_TOKEN, "KASOKU_USER_ID": "me"}


GAP = (datetime(2026, 11, 3, 0, 45, tzinfo=timezone.utc), datetime(2026, 11, 3, 8, 22, tzinfo=timezone.utc))


def record_a_gap(lake: Any) -> None:
    """A gap the collector found (as a poll records it), for the admin page to show."""
    from kasoku.domains.listening.collector.gaps import new_gap, record_gap
    from kasoku.lake.transaction import write

    gap = new_gap("me", *GAP, now=GAP[1], reason="more than 50 plays since the last poll")
    write(lake, lambda con: (None, record_gap(con, gap)), message="test gap")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KasokuServer]:
    root = tmp_path_factory.mktemp("dashboard")
    srv = KasokuServer(build_data(root), log=root / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


class Watched:
    """A page with its console errors and every URL it requested."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def goto(self, url: str, *, ready: bool = True) -> None:
        self.page.goto(url)
        if ready:
            self.page.wait_for_selector("html[data-ready='1']", timeout=15_000)


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def api_json(server: KasokuServer, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=10) as r:
        return json.loads(r.read())
