"""API keys over HTTP: who may read what, admin, the session cookie, the memo under keys."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from kasoku.keys import KeyStore
from tests.e2e.secure.conftest import TOKEN, bearer

TOP = "/v1/listening/top-tracks?limit=3"


async def test_without_keys_anyone_reads_and_admin_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(TOP)).status_code == 200
    assert (await client.get(TOP + "&user_id=u2")).status_code == 200
    assert (await client.get("/admin/cache")).status_code == 401
    assert (await client.get("/admin/cache", headers=bearer(TOKEN))).status_code == 200


async def test_once_a_key_exists_every_data_route_needs_one(client: httpx.AsyncClient, keys: KeyStore) -> None:
    _key, secret = keys.create("u1")
    for path in (TOP, "/v1/listening/plays/stream", "/metrics"):
        refused = await client.get(path)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert refused.headers["www-authenticate"] == "Bearer"
    assert (await client.post("/v1/batch", json=[])).status_code == 401
    assert (await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})).status_code == 401
    assert (await client.get(TOP, headers=bearer("ksk_wrong"))).status_code == 401
    assert (await client.get(TOP, headers=bearer(secret))).status_code == 200
    assert (await client.get(TOP, headers={"X-API-Key": secret})).status_code == 200
    for public in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
        assert (await client.get(public)).status_code == 200, public


async def test_a_read_key_is_bound_to_its_user(client: httpx.AsyncClient, keys: KeyStore) -> None:
    _k, secret = keys.create("u2")
    own = await client.get(TOP, headers=bearer(secret))
    named = await client.get(TOP + "&user_id=u2", headers=bearer(secret))
    assert own.status_code == named.status_code == 200
    assert own.json()["data"] == named.json()["data"]  # the key's user is its default, not settings.user_id
    other = await client.get(TOP + "&user_id=u1", headers=bearer(secret))
    assert other.status_code == 403 and other.json()["error"]["code"] == "FORBIDDEN"
    stream = await client.get("/v1/listening/plays/stream?user_id=u1", headers=bearer(secret))
    assert stream.status_code == 403
    batch = await client.post("/v1/batch", headers=bearer(secret),
                              json=[{"route": "/v1/listening/top-tracks", "params": {"user_id": "u1"}},
                                    {"route": "/v1/listening/top-tracks", "params": {"limit": 3}}])
    statuses = [r["status"] for r in batch.json()["results"]]
    assert statuses == [403, 200]
    assert batch.json()["results"][1]["data"]["data"] == own.json()["data"]
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "listening_top_tracks", "arguments": {"user_id": "u1"}}}
    mcp = (await client.post("/mcp", headers=bearer(secret), json=call)).json()["result"]
    assert mcp["isError"] is True and mcp["structuredContent"]["error"]["code"] == "FORBIDDEN"


async def test_admin_keys_and_the_token_reach_admin_read_keys_do_not(client: httpx.AsyncClient, keys: KeyStore) -> None:
    _r, read = keys.create("u1")
    _a, admin = keys.create("u1", "admin")
    assert (await client.get("/admin/cache", headers=bearer(read))).status_code == 403
    assert (await client.get("/admin/cache")).status_code == 401
    assert (await client.get("/admin/cache", headers=bearer(admin))).status_code == 200
    assert (await client.get("/admin/cache", headers=bearer(TOKEN))).status_code == 200
    # an admin key reads any user
    assert (await client.get(TOP + "&user_id=u2", headers=bearer(admin))).status_code == 200


async def test_admin_token_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    huge = b'{"tags": [' + b"1" * 30 + b"]}"
    refused = await client.post("/admin/invalidate", content=huge, headers={"content-type": "application/json"})
    assert refused.status_code == 401
    not_json = await client.post("/admin/invalidate", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 401


async def test_an_empty_tag_list_does_not_flush_everything(client: httpx.AsyncClient) -> None:
    await client.get(TOP)
    for body in ({"tags": []}, {}):
        refused = await client.post("/admin/invalidate", headers=bearer(TOKEN), json=body)
        assert refused.status_code == 400, body
    assert (await client.get(TOP)).headers["x-cache"] == "hit"
    everything = await client.post("/admin/invalidate", headers=bearer(TOKEN), json={"everything": True})
    assert everything.status_code == 200
    assert (await client.get(TOP)).headers["x-cache"] == "miss"


async def test_admin_disabled_without_token_or_admin_key(make_app: object, settings: object) -> None:
    app: FastAPI = make_app(admin_token=None)  # type: ignore[operator]
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            response = await c.get("/admin/cache")
    assert response.status_code == 404 and response.json()["error"]["code"] == "ADMIN_DISABLED"


async def test_the_memo_of_a_caller_dependent_route_never_leaks_across_keys(client: httpx.AsyncClient,
                                                                              keys: KeyStore, app: FastAPI) -> None:
    """The same request line means different Queries for different keys: u1's key and u2's key
    both ask TOP (no user_id) and must each get their own user's rows, however often they ask
    (the second and later asks go through the fast path)."""
    _1, one = keys.create("u1")
    _2, two = keys.create("u2")
    _a, admin = keys.create("u1", "admin", name="boss")
    answers: dict[str, list[bytes]] = {one: [], two: []}
    outcomes: list[str] = []
    for _ in range(3):
        for secret in (one, two):
            response = await client.get(TOP, headers=bearer(secret))
            assert response.status_code == 200
            answers[secret].append(response.content)
            outcomes.append(response.headers["x-cache"])
    assert len(set(answers[one])) == 1 and len(set(answers[two])) == 1
    assert answers[one][0] != answers[two][0]
    assert outcomes == ["miss", "miss", "hit", "hit", "hit", "hit"]  # later asks: memo + L1
    # an admin asks for u2 by name; then u1's read key sends the very same request line
    line = TOP + "&user_id=u2"
    for _ in range(2):
        assert (await client.get(line, headers=bearer(admin))).status_code == 200
    leaked = await client.get(line, headers=bearer(one))
    assert leaked.status_code == 403
    memo = app.state.remember_query.__self__
    assert {caller for (_p, _q, caller) in memo._items} == {"read:u1", "read:u2", "admin:u1"}


async def test_revoking_a_key_takes_effect_on_the_running_server(client: httpx.AsyncClient, keys: KeyStore,
                                                                 app: FastAPI) -> None:
    key, secret = keys.create("u1")
    keys.create("u1", name="stays")
    assert (await client.get(TOP, headers=bearer(secret))).status_code == 200
    keys.revoke(key.name)
    assert (await client.get(TOP, headers=bearer(secret))).status_code == 401


async def test_dashboard_sign_in_sets_a_secure_httponly_samesite_cookie(client: httpx.AsyncClient, keys: KeyStore,
                                                                        app: FastAPI) -> None:
    key, secret = keys.create("u2")
    assert (await client.post("/auth/session", data={"key": "ksk_nope"})).status_code == 401
    signed = await client.post("/auth/session", data={"key": secret})
    assert signed.status_code == 200 and signed.json()["user"] == "u2"
    cookie = signed.headers["set-cookie"]
    for attribute in ("kasoku_session=", "HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), attribute
    assert secret not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    plain = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1")
    async with plain:
        with_cookie = await plain.get(TOP, headers={"cookie": f"kasoku_session={value}"})
        assert with_cookie.status_code == 200
        assert with_cookie.headers["cache-control"].startswith("private")
        assert (await plain.get(TOP + "&user_id=u1", headers={"cookie": f"kasoku_session={value}"})).status_code == 403
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        assert (await plain.get(TOP, headers={"cookie": f"kasoku_session={forged}"})).status_code == 401
        keys.revoke(key.name)
        keys.create("u1")  # keys still exist: the revoked key's session must not fall back to anonymous
        assert (await plain.get(TOP, headers={"cookie": f"kasoku_session={value}"})).status_code == 401
    signed_json = await client.post("/auth/session", json={"key": secret})
    assert signed_json.status_code == 401  # revoked


@pytest.mark.parametrize("scope", ["read", "admin"])
def test_key_store_keeps_only_hashes_0600(keys: KeyStore, scope: str) -> None:
    key, secret = keys.create("u1", scope)
    raw = keys.path.read_text()
    assert secret not in raw and key.hash in raw
    assert keys.path.stat().st_mode & 0o777 == 0o600
    assert keys.verify(secret) == key and keys.verify(secret + "x") is None
