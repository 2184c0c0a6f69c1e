"""An S3 lake that stops answering: queries get 503 + Retry-After, readiness says not ready (the
catalog still answering is not enough),
liveness stays up, and the CLI prints one line instead of a traceback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from typer.testing import CliRunner

from kasoku.cli import app as cli
from kasoku.config import S3Settings, Settings
from kasoku.domains.listening.ingest import import_tables
from kasoku.lake.ducklake import Lake
from kasoku.service import build_app
from tests.conftest import s3_options
from tests.plays import make_plays
from tests.services import MotoServer


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    server = MotoServer()  # our own: this test stops it
    server.start()
    try:
        yield server
    finally:
        server.close()


def _lake(server: MotoServer, catalog: Path) -> tuple[str, S3Settings]:
    ep = server.endpoint
    bucket = f"kasoku-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=ep.endpoint_url, aws_access_key_id=ep.access_key_id,
                 aws_secret_access_key=ep.secret_access_key, region_name=ep.region).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/lake"
    import_tables(Lake(url, s3_options(ep), catalog=str(catalog)), make_plays("2024-01", 100))
    return url, S3Settings(endpoint=ep.endpoint, access_key_id=ep.access_key_id,
                           secret_access_key=ep.secret_access_key, region=ep.region, use_ssl=False)


async def test_unreachable_lake_is_503_with_retry_after(own_moto: MotoServer, tmp_path: Path) -> None:
    url, s3 = _lake(own_moto, tmp_path / "catalog.sqlite")
    app = build_app(Settings(lake=url, s3=s3, lake_catalog=str(tmp_path / "catalog.sqlite"), state=tmp_path / "state",
                             user_id="u1"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            assert (await c.get("/v1/listening/top-tracks?limit=3")).status_code == 200
            own_moto.stop()
            # Search reads the plays' data files on S3 (small roll-ups may be answered from the
            # snapshot's in-memory copy, rightly, without S3).
            down = await c.get("/v1/listening/search?q=a")
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
            assert int(down.headers["retry-after"]) > 0
            assert (await c.get("/health/live")).status_code == 200
            # The catalog (a local SQLite file) still answers; the data storage does not: not ready.
            ready = await c.get("/health/ready")
            assert ready.status_code == 503, ready.text
            assert int(ready.headers["retry-after"]) > 0
            listening = ready.json()["domains"]["listening"]
            assert listening["ok"] is False and "lake_error" in listening, listening


async def test_reachable_s3_lake_is_ready(own_moto: MotoServer, tmp_path: Path) -> None:
    url, s3 = _lake(own_moto, tmp_path / "catalog.sqlite")
    app = build_app(Settings(lake=url, s3=s3, lake_catalog=str(tmp_path / "catalog.sqlite"), state=tmp_path / "state",
                             user_id="u1"))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            ready = await c.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["domains"]["listening"]["ok"] is True


def test_unreachable_lake_is_one_line_on_the_cli(own_moto: MotoServer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    url, s3 = _lake(own_moto, tmp_path / "catalog.sqlite")
    own_moto.stop()
    monkeypatch.setenv("KASOKU_LAKE_CATALOG", str(tmp_path / "catalog.sqlite"))
    monkeypatch.setenv("KASOKU_S3__ENDPOINT", s3.endpoint or "")
    monkeypatch.setenv("KASOKU_S3__ACCESS_KEY_ID", s3.access_key_id or "")
    monkeypatch.setenv("KASOKU_S3__SECRET_ACCESS_KEY", s3.secret_access_key or "")
    monkeypatch.setenv("KASOKU_S3__USE_SSL", "false")
    result = CliRunner().invoke(cli, ["rollup", "status", "--lake", url])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) <= 3 and "error:" in lines[0], result.output
