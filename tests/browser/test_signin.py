"""Sign-in in a real browser: once keys exist a page sends Chromium to the form, the key's
session cookie (Secure, HttpOnly, SameSite=Strict) is kept on http://127.0.0.1, the pages and
their charts' requests then read that key's user, and another user's page is a 403."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kasoku.keys import KeyStore
from tests.browser.conftest import Watched
from tests.browser.server import KasokuServer


@pytest.fixture(scope="module")
def keyed(server: KasokuServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KasokuServer, str]]:
    """A second server on the same lake with its own state directory holding one read key of user ``me``."""
    state = tmp_path_factory.mktemp("keyed-state")
    _key, secret = KeyStore.for_lake(state, server.env["KASOKU_LAKE"]).create("me", name="laptop")
    srv = KasokuServer({**server.env, "KASOKU_STATE": str(state)}, log=state / "server.log")
    srv.start()
    try:
        yield srv, secret
    finally:
        srv.stop()


def test_sign_in_then_the_keys_own_pages(keyed: tuple[KasokuServer, str], browser: Any, shots: Path) -> None:
    srv, secret = keyed
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        w = Watched(context.new_page())
        w.page.goto(srv.url + "/?period=year")
        assert urllib.parse.urlsplit(w.page.url).path == "/signin"  # no session: to the form
        w.page.screenshot(path=str(shots / "signin.png"))
        w.page.fill("#key", "ksk_wrong")
        w.page.click("form[action='/signin'] button[type=submit]")
        assert w.page.locator("#signin-error").is_visible()
        assert [e for e in w.errors if "401" in e] == w.errors != []  # the refused form answers 401: Chromium logs it
        w.errors.clear()
        w.page.fill("#key", secret)
        w.page.click("form[action='/signin'] button[type=submit]")
        w.page.wait_for_selector("html[data-ready='1']", timeout=15_000)
        assert w.page.url == srv.url + "/?period=year"  # back where it was going
        cookie = next(c for c in context.cookies() if c["name"] == "kasoku_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert w.page.evaluate("document.cookie") == ""  # HttpOnly: not visible to scripts
        assert w.page.inner_text("#signed-in").startswith("laptop")
        # the charts' requests went out with the cookie and were answered (drawn)
        assert int(w.page.get_attribute("#chart-tracks", "data-drawn") or "0") > 0
        src = str(w.page.get_attribute("#chart-timeline", "data-src"))
        assert "user_id=me" in src
        status = w.page.evaluate("async (u) => (await fetch(u, {credentials: 'same-origin'})).status", src)
        assert status == 200
        stats = w.page.evaluate("async (u) => (await (await fetch(u)).json()).data", src)
        assert int(w.page.get_attribute("#total-plays", "data-value") or "0") == sum(r["track_count"] for r in stats)
        assert not w.errors
        # another user's page: 403 like the JSON route
        refused = w.page.goto(srv.url + "/?user=someone-else")
        assert refused is not None and refused.status == 403
        # sign out: the next page asks again
        w.page.goto(srv.url + "/?period=year")
        w.page.click("form.who button[type=submit]")
        w.page.wait_for_load_state()
        assert urllib.parse.urlsplit(w.page.url).path == "/signin"
        assert not any(c["name"] == "kasoku_session" for c in context.cookies())
    finally:
        context.close()
