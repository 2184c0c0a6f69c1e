"""The dashboard over HTTP without a browser: pages, static files, /docs offline, errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.service import build_app
from kasoku.web.render import artist_href
from tests.plays import load_lake, make_plays

TOKEN = "web-admin"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    lake_dir = tmp_path / "lake"
    load_lake(lake_dir, {m: make_plays(m, 300, seed=i) for i, m in enumerate(["2024-01", "2024-02"])})
    return build_app(Settings(lake=str(lake_dir), user_id="u1", admin_token=TOKEN))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


async def test_home_tables_are_the_apis_answers(client: httpx.AsyncClient) -> None:
    page = await client.get("/?start=2024-01-01&end=2024-02-29")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    src = re.search(r'id="chart-tracks"[^>]*data-src="([^"]+)"', html)
    assert src is not None
    api = (await client.get(src.group(1).replace("&amp;", "&"))).json()["data"]
    shown = re.findall(r'<td class="n" data-key="play_count">([\d,]+)</td>', html.split('id="table-tracks"')[1])[:len(api)]
    assert [int(s.replace(",", "")) for s in shown] == [r["play_count"] for r in api]
    stats = (await client.get("/v1/listening/stats?start=2024-01-01&end=2024-02-29&granularity=day")).json()["data"]
    assert f'data-value="{sum(r["track_count"] for r in stats)}"' in html
    # the chart's own request is now an engine hit (the page computed it)
    again = await client.get(src.group(1).replace("&amp;", "&"))
    assert again.headers["x-cache"] == "hit"
    assert "cdn" not in html.lower() and "https://" not in html


async def test_pages_answer(client: httpx.AsyncClient) -> None:
    for path in ["/?period=all", "/?period=week&tz=Asia/Tokyo", "/years/2024", "/search?q=Ado", "/racing",
                 artist_href("Ado"), "/tracks/by-name?track=Idol&artist=YOASOBI"]:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    svg = await client.get("/years/2024.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"2024 in review" in svg.content
    assert "600 plays" in svg.text
    # revalidated each use (figures change with the data), 304 when unchanged; inert on its own
    assert svg.headers["cache-control"] == "no-cache" and svg.headers["x-content-type-options"] == "nosniff"
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")
    assert svg.headers["content-encoding"] in ("br", "zstd", "gzip")
    again = await client.get("/years/2024.svg", headers={"If-None-Match": svg.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # the page links it and names it as its preview image
    page = (await client.get("/years/2024")).text
    assert '<img class="yearcard" src="/years/2024.svg?tz=' in page and 'property="og:image"' in page


async def test_a_page_is_a_304_when_unchanged(client: httpx.AsyncClient) -> None:
    first = await client.get("/?period=all")
    assert first.headers["cache-control"] == "no-cache" and first.headers["etag"]
    again = await client.get("/?period=all", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_bad_input_is_a_4xx(client: httpx.AsyncClient) -> None:
    assert (await client.get("/?period=decade")).status_code == 400
    assert (await client.get("/?tz=Mars/Olympus")).status_code == 400
    assert (await client.get("/?start=2024-02-01&end=2024-01-01")).status_code == 400
    assert (await client.get("/?start=yesterday")).status_code == 422
    assert (await client.get("/years/99999")).status_code == 400
    assert (await client.get("/artists/artist:0000?name=Nobody")).status_code == 404
    assert (await client.get("/static/nothing.js")).status_code == 404
    assert (await client.get("/admin")).status_code == 401  # the guard: admins only
    assert (await client.get("/admin", headers={"authorization": "Bearer wrong"})).status_code == 401


async def test_admin_page_with_token(client: httpx.AsyncClient) -> None:
    await client.get("/v1/listening/top-tracks")
    page = await client.get("/admin", headers={"authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    assert 'class="flow"' in page.text and "node decision on" in page.text
    routes = (await client.get("/admin/routes", headers={"authorization": f"Bearer {TOKEN}"})).json()["routes"]
    assert routes["/v1/listening/top-tracks"]["requests"] == 1
    assert 0 < routes["/v1/listening/top-tracks"]["p50_s"] <= routes["/v1/listening/top-tracks"]["p95_s"]


async def test_static_files_are_versioned_compressed_and_revalidated(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    js = re.search(r'src="(/static/vendor/swagger-ui/swagger-ui-bundle\.js\?v=\w+)"', html)
    assert js is not None and "cdn" not in html and "fastapi.tiangolo.com" not in html
    first = await client.get(js.group(1), headers={"accept-encoding": "br"})
    assert first.headers["content-encoding"] == "br" and "immutable" in first.headers["cache-control"]
    assert first.num_bytes_downloaded < 1_000_000 < len(first.content)  # 1.7 MB decoded, far less sent
    again = await client.get(js.group(1), headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    plain = await client.get("/static/dash.js")
    assert plain.headers["cache-control"] == "no-cache"


def test_the_wheel_carries_the_static_files() -> None:
    from kasoku.web.assets import Assets

    files = Assets().files
    for name in ["dash.js", "dash.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/LICENSE",
                 "vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/LICENSE"]:
        assert name in files
