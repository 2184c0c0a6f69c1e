"""Every dashboard page in headless Chromium against a real server on demo-like data: no
console error, no request off the server, the figures shown are the API's, charts drew,
JavaScript off still gives readable tables. Screenshots go to the session's tmp dir."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.browser.conftest import ADMIN_TOKEN, Watched, api_json
from tests.browser.server import KasokuServer


def only_server(server: KasokuServer, urls: list[str]) -> None:
    off = [u for u in urls if not (u.startswith(server.url + "/") or u.startswith(("data:", "blob:", "about:")))]
    assert not off, f"requests off the server: {off}"


def number(text: str) -> float:
    return float(text.replace(",", "").strip())


def src_of(w: Watched, chart: str) -> str:
    return str(w.page.get_attribute(f"#chart-{chart}", "data-src"))


def test_home_draws_the_apis_numbers(server: KasokuServer, watched: Watched, shots: Path) -> None:
    watched.goto(server.url + "/?period=year")
    page = watched.page
    assert not watched.errors
    only_server(server, watched.requests)
    # totals = the stats route's own counts, summed
    stats = api_json(server, src_of(watched, "timeline"))["data"]
    assert int(page.get_attribute("#total-plays", "data-value") or "0") == sum(r["track_count"] for r in stats)
    assert number(page.inner_text("#total-plays")) == sum(r["track_count"] for r in stats) > 0
    # ranked tables: row by row equal to the API
    for chart in ("tracks", "artists", "genres"):
        rows = api_json(server, src_of(watched, chart))["data"]
        assert rows, chart
        cells = page.locator(f"#table-{chart} td[data-key='play_count']").all_inner_texts()
        assert [number(c) for c in cells] == [r["play_count"] for r in rows]
        minutes = page.locator(f"#table-{chart} td[data-key='total_minutes']").all_inner_texts()
        assert [number(c) for c in minutes] == [r["total_minutes"] for r in rows]
        assert int(page.get_attribute(f"#chart-{chart}", "data-drawn") or "0") == len(rows)
        assert page.locator(f"#chart-{chart} svg rect.bar").count() == len(rows)
    # the time series drew on its canvas (uPlot): some pixel is not blank
    painted = page.evaluate("""() => { const c = document.querySelector('#chart-timeline canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i]) n++; } return [c.width, n]; }""")
    assert painted[0] > 0 and painted[1] > 1000
    assert page.locator("#chart-hours svg rect.bar").count() > 20
    # the charts' data were fetched from the API (so they were cache hits)
    fetched = {urllib.parse.urlsplit(u).path for u in watched.requests}
    assert {"/v1/listening/stats", "/v1/listening/top-tracks", "/v1/listening/hours"} <= fetched
    page.screenshot(path=str(shots / "home-light.png"), full_page=True)


def test_table_toggle_by_keyboard(server: KasokuServer, watched: Watched) -> None:
    watched.goto(server.url + "/")
    page = watched.page
    assert page.locator("#table-tracks").is_hidden()  # the chart is shown, its table one key away
    page.focus("button.toggle[data-for='tracks']")
    page.keyboard.press("Enter")
    assert page.locator("#table-tracks").is_visible()
    assert page.get_attribute("button.toggle[data-for='tracks']", "aria-pressed") == "true"
    page.keyboard.press("Space")
    assert page.locator("#chart-tracks").is_visible()
    assert not watched.errors


def test_a_chart_whose_data_fails_leaves_its_table(server: KasokuServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.route("**/v1/listening/top-artists?*", lambda route, request: route.abort())
        page.goto(server.url + "/?period=year")
        page.wait_for_selector("html[data-ready='1']", timeout=15_000)
        assert page.locator("#table-artists").is_visible() and page.locator("#chart-artists").is_hidden()
        assert page.locator("button.toggle[data-for='artists']").is_hidden()  # nothing to toggle to
        assert page.locator("#table-tracks").is_hidden() and page.locator("#chart-tracks svg").is_visible()
    finally:
        context.close()


def test_time_zone_suggestions_come_from_the_browser(server: KasokuServer, watched: Watched) -> None:
    watched.goto(server.url + "/")
    page = watched.page
    assert page.locator("#zones option").count() == 0  # not in the HTML
    page.focus("input[list='zones']")
    assert page.locator("#zones option").count() > 300
    assert page.locator("#zones option[value='Asia/Tokyo']").count() == 1
    assert not watched.errors


def test_dark_scheme_and_periods(server: KasokuServer, browser: Any, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        w = Watched(context.new_page())
        for period in ("week", "all"):
            w.goto(f"{server.url}/?period={period}&tz=Asia/Tokyo")
            stats = api_json(server, src_of(w, "timeline"))["data"]
            assert int(w.page.get_attribute("#total-plays", "data-value") or "0") == sum(r["track_count"] for r in stats)
        background = w.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 18, 28)"
        w.page.screenshot(path=str(shots / "home-dark.png"), full_page=True)
        assert not w.errors
        only_server(server, w.requests)
    finally:
        context.close()


def test_javascript_off_renders_tables(server: KasokuServer, browser: Any, shots: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/?period=year")
        assert page.locator("#table-tracks").is_visible()
        assert page.locator("#table-tracks tbody tr").count() == 10
        assert page.locator("#table-hours tbody tr").count() == 7
        assert 1 <= page.locator("#table-recent tbody tr").count() <= 15
        assert page.locator(".chart").first.is_hidden()
        src = page.get_attribute("#chart-tracks", "data-src")
        rows = api_json(server, str(src))["data"]
        cells = page.locator("#table-tracks td[data-key='play_count']").all_inner_texts()
        assert [number(c) for c in cells] == [r["play_count"] for r in rows]
        page.screenshot(path=str(shots / "home-no-js.png"), full_page=True)
        page.goto(server.url + "/racing")
        assert page.locator("#table-card tbody tr").count() >= 10
    finally:
        context.close()


def test_names_link_to_artist_and_track_pages(server: KasokuServer, watched: Watched) -> None:
    watched.goto(server.url + "/?period=year")
    page = watched.page
    page.click("button.toggle[data-for='artists']")
    artist = page.locator("#table-artists tbody tr a").first
    name = artist.inner_text()
    artist.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == name
    assert number(page.inner_text("#total-plays")) > 0
    page.locator("#table-artist-tracks tbody a").first.click()
    page.wait_for_load_state()
    assert name in page.locator(".by").inner_text()
    assert number(page.inner_text("#total-plays")) > 0
    # search box
    page.fill("#q", name[:4])
    page.press("#q", "Enter")
    page.wait_for_load_state()
    rows = page.locator("#table-search tbody tr")
    assert rows.count() > 0
    api = api_json(server, "/v1/listening/search?" + urllib.parse.urlencode({"q": name[:4], "limit": 50}))["data"]
    assert rows.count() == len(api)
    assert not watched.errors
    only_server(server, watched.requests)


def test_year_in_review_page_and_image(server: KasokuServer, watched: Watched, shots: Path) -> None:
    year = datetime.now(timezone.utc).year
    watched.goto(f"{server.url}/years/{year}")
    page = watched.page
    assert not watched.errors
    only_server(server, watched.requests)
    assert number(page.inner_text("#total-plays")) > 0
    assert page.evaluate("document.querySelector('img.yearcard').naturalWidth") == 1200
    with urllib.request.urlopen(f"{server.url}/years/{year}.svg") as r:
        assert r.headers["content-type"].startswith("image/svg+xml")
        svg = r.read().decode()
    assert f"{year} in review" in svg and page.inner_text("#total-plays") in svg
    page.screenshot(path=str(shots / "year.png"), full_page=True)
    # the image on its own, as a shared link opens it: Chromium draws it at its full size
    opened = page.goto(f"{server.url}/years/{year}.svg")
    assert opened is not None and opened.status == 200
    size = page.evaluate("() => { const r = document.documentElement.getBoundingClientRect(); return [r.width, r.height]; }")
    assert size == [1200, 630]
    card = page.screenshot(path=str(shots / "yearcard.png"))
    assert len(card) > 10_000  # a drawn card, not a blank page
    assert not watched.errors


def test_racing_day_and_race_card(server: KasokuServer, watched: Watched, shots: Path) -> None:
    watched.goto(server.url + "/racing", ready=False)
    page = watched.page
    page.wait_for_load_state("networkidle")
    assert page.locator(".meetings section").count() == 2
    race_links = page.locator(".meetings a")
    assert race_links.count() == 16
    race_links.nth(3).click()
    page.wait_for_load_state("networkidle")
    race_id = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["race"][0]
    entries = api_json(server, f"/api/v1/data/0B12?key={race_id}")["records"]
    se = {r["data"]["horse_number"]: r["data"] for r in entries if r["record_type"] == "SE"}
    rows = page.locator("#table-card tbody tr")
    assert rows.count() == len(se)
    first = rows.first.locator("td").all_inner_texts()
    winner = next(e for e in se.values() if e["finish_order"] == 1)
    assert first[0] == "1" and int(first[1]) == winner["horse_number"] and winner["horse_name"] in first[3]
    assert float(first[7]) == winner["win_odds"]
    for fmt in ("json", "arrow", "csv"):
        href = page.locator(f".racecard .api a:text('{ {'json': 'JSON', 'arrow': 'Arrow', 'csv': 'CSV'}[fmt] }')").first.get_attribute("href")
        with urllib.request.urlopen(server.url + str(href)) as r:
            assert r.status == 200 and r.read()
    assert not watched.errors
    only_server(server, watched.requests)
    page.screenshot(path=str(shots / "racing.png"), full_page=True)


def test_admin_needs_the_token_and_draws_the_flowchart(server: KasokuServer, browser: Any, shots: Path) -> None:
    refused = browser.new_context()
    try:
        page = refused.new_page()  # the guard: admins only; a browser is sent to the sign-in form
        assert page.goto(server.url + "/admin").status == 200
        assert page.url.endswith("/signin?next=/admin")
    finally:
        refused.close()
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        watched = Watched(context.new_page())
        watched.goto(server.url + "/admin", ready=False)
        page = watched.page
        assert page.inner_text("#breaker") == "no Redis configured"
        assert page.locator("svg.flow .node.on").count() >= 2
        assert page.locator("svg.flow .edge.on").count() >= 1
        request = urllib.request.Request(server.url + "/admin/advise", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request) as r:
            import json

            advice = json.loads(r.read())
        shown = page.locator("ol.path li").all_inner_texts()
        assert [s.split(" — ")[0] for s in shown] == [step["question"] for step in advice["path"]]
        assert page.locator("#table-tiers tbody tr").count() >= 1
        assert page.locator("#table-routes tbody tr").count() >= 3
        gap = page.locator("#table-open-gaps tr.gap-open")  # the collector's open gap, from the lake
        assert gap.count() == 1 and "2026-11-03 00:45:00.000 UTC" in gap.inner_text()
        assert not watched.errors
        only_server(server, watched.requests)
        page.screenshot(path=str(shots / "admin.png"), full_page=True)
    finally:
        context.close()


def test_docs_work_offline(server: KasokuServer, watched: Watched) -> None:
    watched.goto(server.url + "/docs", ready=False)
    page = watched.page
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 10
    assert not watched.errors
    only_server(server, watched.requests)
