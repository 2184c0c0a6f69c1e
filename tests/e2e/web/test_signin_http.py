"""Pages once API keys exist: sign in with a key, see that key's user, 403 for another user."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI

from kasoku.config import Settings
from kasoku.keys import KeyStore
from kasoku.service import build_app
from tests.plays import load_lake, make_plays

RANGE = "start=2024-01-01&end=2024-02-29"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    lake = tmp_path / "lake"
    load_lake(lake, {m: pa.concat_tables([make_plays(m, 200, seed=i, user="u1"), make_plays(m, 120, seed=i, user="u2")])
                     for i, m in enumerate(["2024-01", "2024-02"])})
    return build_app(Settings(lake=str(lake), state=tmp_path / "state", user_id="u1", admin_token="tok"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            yield c


def keys_of(app: FastAPI) -> KeyStore:
    return app.state.authenticator.keys  # type: ignore[no-any-return]


async def sign_in(client: httpx.AsyncClient, secret: str, next_page: str = "/") -> dict[str, str]:
    """POST the form; the session cookie it sets, as a header (httpx keeps Secure cookies for https only)."""
    answer = await client.post("/signin", content=urllib.parse.urlencode({"key": secret, "next": next_page}),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 303 and answer.headers["location"] == next_page
    set_cookie = answer.headers["set-cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in set_cookie.lower(), set_cookie
    return {"Cookie": set_cookie.split(";", 1)[0]}


def total_plays(html: str) -> int:
    found = re.search(r'id="total-plays" data-value="(\d+)"', html)
    assert found is not None
    return int(found.group(1))


async def plays_of(client: httpx.AsyncClient, user: str) -> int:
    stats = (await client.get(f"/v1/listening/stats?{RANGE}&granularity=day&user_id={user}",
                              headers={"Authorization": "Bearer tok"})).json()["data"]
    return sum(r["track_count"] for r in stats)


async def test_without_keys_pages_are_open(client: httpx.AsyncClient) -> None:
    page = await client.get(f"/?{RANGE}")
    assert page.status_code == 200 and total_plays(page.text) == await plays_of(client, "u1")
    assert (await client.get("/signin")).status_code == 200


async def test_with_keys_a_page_needs_a_session_and_shows_the_keys_user(client: httpx.AsyncClient, app: FastAPI) -> None:
    _key, secret = keys_of(app).create("u2", name="phone")
    # no session: every page goes to the sign-in form and back; static files stay public; admin stays guarded
    for path in (f"/?{RANGE}", "/years/2024", "/years/2024.svg", "/search?q=a", "/racing", "/artists/artist:00"):
        away = await client.get(path)
        assert away.status_code == 303, path
        assert away.headers["location"] == "/signin?" + urllib.parse.urlencode({"next": path})
    assert (await client.get("/static/dash.css")).status_code == 200
    assert (await client.get("/admin")).status_code == 401  # an API client: the JSON 401
    page = await client.get("/admin", headers={"Accept": "text/html,application/xhtml+xml"})  # a browser
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/admin"
    assert (await client.get("/admin/cache", headers={"Accept": "text/html"})).status_code == 401
    assert (await client.get(f"/v1/listening/stats?{RANGE}")).status_code == 401
    form = await client.get("/signin?next=/years/2024")
    assert form.status_code == 200 and 'name="key"' in form.text and 'value="/years/2024"' in form.text
    # a wrong key: the form again, 401, nothing set
    wrong = await client.post("/signin", content="key=ksk_nope&next=/", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers and 'id="signin-error"' in wrong.text
    junk = await client.post("/signin", content="a=1&b=2&c=3&d=4&e=5&key=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert junk.status_code == 401
    foreign = await client.post("/signin", content=urllib.parse.urlencode({"key": secret}),
                                headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    tab = await client.post("/signin", content=urllib.parse.urlencode({"key": secret, "next": "/\t/evil.example"}),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert tab.status_code == 303 and tab.headers["location"] == "/"
    # not a way off the server
    off = await client.post("/signin", content=urllib.parse.urlencode({"key": secret, "next": "//evil.example/"}),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert off.status_code == 303 and off.headers["location"] == "/"

    cookie = await sign_in(client, secret, f"/?{RANGE}")
    page = await client.get(f"/?{RANGE}", headers=cookie)
    assert page.status_code == 200
    u2, u1 = await plays_of(client, "u2"), await plays_of(client, "u1")
    assert u1 != u2 and total_plays(page.text) == u2  # the key's user, not settings.user_id
    assert 'id="signed-in">phone · u2<' in page.text
    # the charts' requests carry the same cookie and read the same user
    src = re.search(r'id="chart-tracks"[^>]*data-src="([^"]+)"', page.text)
    assert src is not None and "user_id=u2" in src.group(1)
    assert (await client.get(src.group(1).replace("&amp;", "&"), headers=cookie)).status_code == 200
    # another user's pages: 403, like the JSON routes
    other = await client.get(f"/?{RANGE}&user=u1", headers=cookie)
    assert other.status_code == 403 and "FORBIDDEN" in other.text
    assert (await client.get(f"/v1/listening/stats?{RANGE}&user_id=u1", headers=cookie)).status_code == 403
    assert (await client.get("/years/2024.svg?user=u1", headers=cookie)).status_code == 403
    # sign out: the cookie is cleared
    out = await client.post("/signout", headers=cookie)
    assert out.status_code == 303 and 'kasoku_session=""' in out.headers["set-cookie"]


async def test_an_admin_key_may_look_at_any_user(client: httpx.AsyncClient, app: FastAPI) -> None:
    _key, secret = keys_of(app).create("u2", scope="admin", name="ops")
    cookie = await sign_in(client, secret)
    page = await client.get(f"/?{RANGE}&user=u1", headers=cookie)
    assert page.status_code == 200 and total_plays(page.text) == await plays_of(client, "u1")
    # the page's links and forms keep showing u1
    links = re.findall(r'href="(/(?:artists|tracks)/[^"]+)"', page.text)
    assert links and all("user=u1" in link for link in links)
    assert '<input type="hidden" name="user" value="u1">' in page.text
    assert (await client.get("/admin", headers=cookie)).status_code == 200


async def test_a_revoked_key_signs_the_browser_out(client: httpx.AsyncClient, app: FastAPI) -> None:
    keys_of(app).create("u1", name="keep")
    _key, secret = keys_of(app).create("u2", name="gone")
    cookie = await sign_in(client, secret)
    assert (await client.get(f"/?{RANGE}", headers=cookie)).status_code == 200
    keys_of(app).revoke("gone")
    keys_of(app)._reload()  # the store re-reads its file at most once a second
    assert (await client.get(f"/?{RANGE}", headers=cookie)).status_code == 303
