"""Two server processes, one Redis: shared L2, invalidation broadcast, Redis killed mid-stream."""

from __future__ import annotations

import threading
import time

import httpx

from tests.services import RedisServer

from .conftest import Server


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def subscribed(server: Server) -> bool:
    return bool(httpx.get(server.url + "/admin/cache", headers=server.admin()).json()["l2"]["subscribed"])


def test_second_process_reads_l2_and_invalidation_drops_its_l1(two_servers: tuple[Server, Server]) -> None:
    a, b = two_servers
    assert wait_until(lambda: subscribed(a) and subscribed(b))
    first = httpx.get(a.url + "/fruit/2024-01")
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    assert wait_until(lambda: httpx.get(b.url + "/fruit/2024-01").headers["x-cache"] == "hit")
    httpx.get(a.url + "/fruit/2024-02")
    assert httpx.get(b.url + "/fruit/2024-02").headers["x-cache"] == "hit"
    assert httpx.get(b.url + "/fruit-runs").json()["runs"] == 0  # b never ran its source
    stats = httpx.get(b.url + "/admin/cache", headers=b.admin()).json()
    assert stats["l1"]["entries"] == 2 and stats["tiers"]["l2:fruit"]["hit"] >= 1

    dropped = httpx.post(a.url + "/admin/invalidate", json={"tags": ["month:2024-01"]}, headers=a.admin())
    assert dropped.status_code == 200 and dropped.json()["invalidated"]["l2"] == 1
    assert wait_until(lambda: httpx.get(b.url + "/admin/cache", headers=b.admin()).json()["l1"]["entries"] == 1)
    assert httpx.get(b.url + "/fruit/2024-02").headers["x-cache"] == "hit"
    assert httpx.get(b.url + "/fruit/2024-01").headers["x-cache"] == "miss"
    assert httpx.get(b.url + "/fruit-runs").json()["runs"] == 1
    metrics = httpx.get(b.url + "/metrics").text
    assert 'kasoku_invalidation_broadcasts_total{direction="received"} 1.0' in metrics
    assert "kasoku_redis_breaker_open 0.0" in metrics


def test_redis_killed_and_restarted_during_a_stream_of_requests(two_servers: tuple[Server, Server],
                                                                 redis_server: RedisServer) -> None:
    a, b = two_servers
    statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def stream(server: Server) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            i = 0
            while not stop.is_set():
                try:
                    statuses.append(client.get(f"/fruit/2024-{i % 40:02d}").status_code)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                i += 1

    threads = [threading.Thread(target=stream, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    # Each phase lasts until the streams made enough requests in it (not a fixed time: on a
    # loaded machine a second may hold only a few requests).
    def requests_past(n: int) -> bool:
        return len(statuses) + len(failures) >= n

    try:
        assert wait_until(lambda: requests_past(40), timeout=60)
        redis_server.stop()
        assert wait_until(lambda n=len(statuses): requests_past(n + 40), timeout=60)
        redis_server.start()
        assert wait_until(lambda n=len(statuses): requests_past(n + 40), timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if not redis_server.running:
            redis_server.start()
    assert not failures
    assert len(statuses) >= 120 and set(statuses) == {200}
    # Redis is back: both processes use it again without a restart.
    for server in (a, b):
        assert wait_until(lambda s=server: (httpx.get(s.url + "/fruit/2099-01").status_code == 200 and
                                           httpx.get(s.url + "/admin/cache", headers=s.admin()).json()["l2"]["breaker"] == "closed"),
                          timeout=30)
    errors = httpx.get(a.url + "/metrics").text
    assert "kasoku_redis_errors_total" in errors
