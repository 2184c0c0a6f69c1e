"""A gap in the lake shows on a running server: the admin page, the status route and /metrics;
once an export closes it, the admin page lists it under "closed recently"."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from kasoku.config import Settings
from kasoku.domains.listening.settings import SpotifySettings
from kasoku.domains.listening.collector.poll import Collector
from kasoku.domains.listening.collector.sink import ingest_paths
from kasoku.domains.listening.domain import lake_from_settings
from kasoku.service import build_app
from tests.integration.collector.conftest import do_login
from tests.spotify_fake import FakeSpotify

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
TOKEN = "collector-admin"


@pytest.fixture
def fake() -> object:
    server = FakeSpotify().start()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path: Path, fake: FakeSpotify) -> Settings:
    settings = Settings(lake=str(tmp_path / "lake"), state=tmp_path / "state", user_id="me", admin_token=TOKEN,
                        spotify=SpotifySettings(client_id=fake.client_id, accounts_url=fake.url, api_url=fake.url,
                                                artists_per_poll=0))
    do_login(settings)
    return settings


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1",
                                     headers={"authorization": f"Bearer {TOKEN}"}) as client:
            yield client


def table(html: str, ident: str) -> str:
    found = re.search(rf'<table class="data" id="{ident}">(.*?)</table>', html, re.S)
    assert found is not None, ident
    return found.group(1)


async def test_the_admin_page_shows_open_then_closed_gaps(settings: Settings, fake: FakeSpotify, tmp_path: Path) -> None:
    lake = lake_from_settings(settings)
    first = fake.add_plays(10, start=T0)
    with Collector(settings, lake, "me") as collector:
        collector.poll()
        fake.add_plays(120, start=first[-1].end, seed=3)
        gap = collector.poll().gap
    assert gap is not None
    shown_start, shown_end = (t.replace("T", " ").replace("Z", " UTC") for t in (gap.start, gap.end))

    async for client in client_for(settings):
        html = (await client.get("/admin")).text
        users = table(html, "table-collector")
        assert 'data-user="me"' in users and "(not logged in)" not in users
        open_gaps = table(html, "table-open-gaps")
        assert open_gaps.count('class="gap-open"') == 1
        assert shown_start in open_gaps and shown_end in open_gaps
        assert "None." in table(html, "table-closed-gaps")
        status = (await client.get("/v1/listening/collector/status?user_id=me")).json()["users"][0]
        assert [(g["start"], g["end"]) for g in status["open_gaps"]] == [(gap.start, gap.end)]
        metrics = (await client.get("/metrics")).text
        assert 'kasoku_collector_open_gaps{user="me"} 1.0' in metrics
        assert f'kasoku_collector_open_gap_seconds{{user="me"}} {status["open_gap_seconds"]}' in metrics

        export = tmp_path / "Streaming_History_Audio_2026_0.json"
        export.write_text(json.dumps(fake.export_rows()))
        summary = ingest_paths(lake, [export], user_id="me", settings=settings)  # e.g. the watched folder
        assert [c.filled for c in summary.gaps_closed] == [70]

        html = (await client.get("/admin")).text
        assert "No open gaps." in table(html, "table-open-gaps")
        closed = table(html, "table-closed-gaps")
        assert closed.count('class="gap-closed"') == 1 and shown_start in closed
        assert f"import of {export.name}" in closed and '<td class="n">70</td>' in closed
        assert 'kasoku_collector_open_gaps{user="me"} 0.0' in (await client.get("/metrics")).text
