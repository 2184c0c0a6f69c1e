"""ComClient's read loop, queue, deadline and thread affinity against ScriptedJVLink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from kasoku.domains.racing.clients import ComClient, JVLinkError, ScriptedJVLink
from kasoku.domains.racing.clients.scripted import Session, WrongThread
from kasoku.errors import KasokuError, UpstreamError, UpstreamUnavailable

from ._jvdata import make_record

A = make_record("RA", key="2024010606010101")
B = make_record("SE", key="2024010606010101", body="101")
C = make_record("HR", key="2024010606010101")


class Harness:
    """Builds ComClients whose factory hands out (and remembers) scripted objects."""

    def __init__(self) -> None:
        self.objects: list[ScriptedJVLink] = []
        self.sleeps: list[float] = []
        self.clients: list[ComClient] = []
        self.released = 0

    def client(self, *sessions: Session, init_code: int = 0, gets: bool = True,
               **kwargs: object) -> ComClient:
        harness = self

        class Factory:
            def __call__(self) -> ScriptedJVLink:
                obj = ScriptedJVLink(list(sessions), init_code=init_code, gets=gets)
                harness.objects.append(obj)
                return obj

            def release(self) -> None:
                harness.released += 1

        kwargs.setdefault("sleep", self.sleeps.append)
        kwargs.setdefault("call_timeout", 5.0)
        c = ComClient(Factory(), sid="KASOKU", **kwargs)  # type: ignore[arg-type]
        self.clients.append(c)
        return c

    @property
    def jv(self) -> ScriptedJVLink:
        return self.objects[-1]


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    for c in harness.clients:
        c.close()


def test_happy_path_call_sequence(h: Harness) -> None:
    c = h.client(Session(reads=[A, B, C]))
    assert c.fetch_stored("RACE", "20240101000000") == [A, B, C]
    assert h.jv.call_names == ["JVInit", "JVOpen", "JVGets", "JVGets", "JVGets", "JVGets", "JVClose"]
    assert h.jv.calls[1].args == ("RACE", "20240101000000", 1)


def test_file_switches_and_download_waits(h: Harness) -> None:
    c = h.client(Session(reads=[A, -1, -3, -3, B, -1, C]))
    assert c.fetch_stored("RACE", "20240101000000") == [A, B, C]
    assert h.sleeps == [0.1, 0.1]
    assert h.jv.call_names.count("JVGets") == 8


def test_polls_status_until_downloaded(h: Harness) -> None:
    c = h.client(Session(reads=[A], downloadcount=3, status=[0, 1, 2, 3]))
    assert c.fetch_stored("RACE", "20240101000000") == [A]
    names = h.jv.call_names
    assert names[:6] == ["JVInit", "JVOpen", "JVStatus", "JVStatus", "JVStatus", "JVStatus"]
    assert h.sleeps == [0.1, 0.1, 0.1]


def test_status_error_closes(h: Harness) -> None:
    c = h.client(Session(reads=[A], downloadcount=2, status=[0, -502]))
    with pytest.raises(JVLinkError) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.jvlink_code == -502 and e.value.status == 502
    assert h.jv.call_names[-1] == "JVClose"


def test_corrupt_file_is_deleted_and_reopened(h: Harness) -> None:
    c = h.client(Session(reads=[A, -402]), Session(reads=[A, B]))
    assert c.fetch_stored("RACE", "20240101000000") == [A, B]
    names = h.jv.call_names
    assert names == ["JVInit", "JVOpen", "JVGets", "JVGets", "JVClose", "JVFiledelete",
                     "JVOpen", "JVGets", "JVGets", "JVGets", "JVClose"]
    assert h.jv.deleted == ["F0001.jvd"]


def test_corrupt_file_gives_up_after_bounded_reopens(h: Harness) -> None:
    c = h.client(*[Session(reads=[-403]) for _ in range(5)], max_reopens=2)
    with pytest.raises(JVLinkError) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.jvlink_code == -403 and e.value.status == 502
    assert h.jv.opens == 3 and h.jv.call_names.count("JVClose") == 3
    assert len(h.jv.deleted) == 3


def test_download_failure_still_closes(h: Harness) -> None:
    c = h.client(Session(reads=[A, -502]))
    with pytest.raises(JVLinkError) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.jvlink_code == -502 and e.value.status == 502
    assert h.jv.call_names[-1] == "JVClose"


@pytest.mark.parametrize(("code", "status", "retry_after"), [
    (-504, 503, True), (-202, 503, True), (-301, 502, False), (-303, 502, False),
    (-211, 502, False), (-431, 502, False), (-115, 400, False),
])
def test_open_errors_map_to_http(h: Harness, code: int, status: int, retry_after: bool) -> None:
    c = h.client(Session(ret=code))
    with pytest.raises(JVLinkError) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.status == status and e.value.details["jvlink_code"] == code
    assert ("Retry-After" in e.value.headers) is retry_after
    assert h.jv.call_names[-1] == "JVClose"


def test_no_data_is_empty_and_closed(h: Harness) -> None:
    c = h.client(Session(ret=-1))
    assert c.fetch_realtime("0B15", "20240106") == []
    assert h.jv.call_names == ["JVInit", "JVRTOpen", "JVClose"]


def test_realtime_reads(h: Harness) -> None:
    c = h.client(Session(reads=[A, B]))
    assert c.fetch_realtime("0B15", "2024010606010101") == [A, B]
    assert h.jv.calls[1].args == ("0B15", "2024010606010101")


def test_jvread_fallback_reencodes_bytes(h: Harness) -> None:
    um = make_record("UM", key="2019105123", body="シゲルシチフクジン")
    c = h.client(Session(reads=[um, A]), gets=False)
    assert c.fetch_stored("DIFF", "20240101000000") == [um, A]
    assert "JVGets" not in h.jv.call_names and "JVRead" in h.jv.call_names


def test_parameter_errors_never_reach_com(h: Harness) -> None:
    c = h.client()
    with pytest.raises(KasokuError):
        c.fetch_stored("RACE", "bad")
    assert h.objects == [] or h.jv.call_names == []


def test_init_failure_then_retry(h: Harness) -> None:
    c = h.client(Session(reads=[A]), init_code=-103)
    with pytest.raises(JVLinkError) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.jvlink_code == -103 and e.value.status == 502
    assert len(h.objects) == 1
    with pytest.raises(JVLinkError):
        c.fetch_stored("RACE", "20240101000000")
    assert len(h.objects) == 2  # the next call tried again
    assert c.status()["initialised"] is False


def test_second_open_without_close_is_202() -> None:
    jv = ScriptedJVLink([Session(reads=[A]), Session(reads=[B])])
    jv.JVInit("x")
    assert jv.JVOpen("RACE", "20240101000000", 1)[0] == 0
    assert jv.JVOpen("RACE", "20240101000000", 1)[0] == -202
    jv.JVClose()
    assert jv.JVOpen("RACE", "20240101000000", 1)[0] == 0


def test_thread_affinity(h: Harness) -> None:
    c = h.client(Session(reads=[A]), Session(reads=[B]), Session(reads=[C]))
    results: list[list[bytes]] = []
    threads = [threading.Thread(target=lambda k=k: results.append(c.fetch_realtime("0B15", k)))
               for k in ("20240106", "2024010606010101", "2024010606010102")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted([[A], [B], [C]])
    owner = h.jv.owner
    assert owner != threading.get_ident()
    assert {call.thread for call in h.jv.calls} == {owner}
    with pytest.raises(WrongThread):
        h.jv.JVClose()  # the stand-in refuses calls from any other thread


def _in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:  # noqa: BLE001 - handed back to the test
            out.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _wait_until(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_queue_full_is_503_with_retry_after(h: Harness) -> None:
    gate = threading.Event()
    c = h.client(Session(reads=[A], hang=gate), Session(reads=[B]), queue_size=1)
    t1, out1 = _in_thread(lambda: c.fetch_realtime("0B15", "20240106"))
    _wait_until(lambda: c.status()["queue_depth"] == 0 and c.status()["inflight"] == 1)
    t2, out2 = _in_thread(lambda: c.fetch_realtime("0B15", "20240107"))
    _wait_until(lambda: c.status()["queue_depth"] == 1)
    with pytest.raises(UpstreamUnavailable) as e:
        c.fetch_realtime("0B15", "20240108")
    assert e.value.status == 503 and "Retry-After" in e.value.headers
    gate.set()
    t1.join()
    t2.join()
    assert out1 == [[A]] and out2 == [[B]]
    assert c.status()["rejected"] == 1


def test_deadline_is_503(h: Harness) -> None:
    gate = threading.Event()
    c = h.client(Session(reads=[A], hang=gate), Session(reads=[B]), call_timeout=0.2)
    with pytest.raises(UpstreamUnavailable) as e:
        c.fetch_realtime("0B15", "20240106")
    assert e.value.status == 503 and "Retry-After" in e.value.headers
    gate.set()
    # the COM thread finishes the abandoned call, closes, and serves the next one
    assert c.fetch_realtime("0B15", "20240107") == [B]
    assert h.jv.call_names.count("JVClose") == 2


def test_identical_requests_are_coalesced(h: Harness) -> None:
    gate = threading.Event()
    c = h.client(Session(reads=[A], hang=gate))
    t1, out1 = _in_thread(lambda: c.fetch_realtime("0B15", "20240106"))
    _wait_until(lambda: c.status()["inflight"] == 1)
    t2, out2 = _in_thread(lambda: c.fetch_realtime("0B15", "20240106"))
    _wait_until(lambda: c.status()["coalesced"] == 1)
    gate.set()
    t1.join()
    t2.join()
    assert out1 == [[A]] and out2 == [[A]]
    assert h.jv.opens == 1


def test_com_exception_recreates_object(h: Harness) -> None:
    c = h.client(Session(reads=[A]))
    c.fetch_stored("RACE", "20240101000000")
    h.jv.JVOpen = None  # type: ignore[method-assign,assignment]  # next call blows up inside COM
    with pytest.raises(UpstreamError):
        c.fetch_stored("RACE", "20240102000000")
    assert c.fetch_stored("RACE", "20240103000000") == [A]  # a fresh object replaying the script
    assert len(h.objects) == 2 and h.jv.call_names[0] == "JVInit"


def test_close_fails_queued_requests_and_releases(h: Harness) -> None:
    gate = threading.Event()
    c = h.client(Session(reads=[A], hang=gate))
    t1, out1 = _in_thread(lambda: c.fetch_realtime("0B15", "20240106"))
    _wait_until(lambda: c.status()["inflight"] == 1 and c.status()["queue_depth"] == 0)
    t2, out2 = _in_thread(lambda: c.fetch_realtime("0B15", "20240107"))
    _wait_until(lambda: c.status()["queue_depth"] == 1)
    closer, _ = _in_thread(c.close)
    t2.join()
    assert isinstance(out2[0], UpstreamUnavailable)
    gate.set()
    closer.join()
    t1.join()
    assert out1 == [[A]]
    assert h.released == 1 and not c.status()["thread_alive"]
    with pytest.raises(UpstreamUnavailable):
        c.fetch_realtime("0B15", "20240106")


def test_a_fetch_past_the_byte_limit_stops_reading_and_closes(h: Harness) -> None:
    from kasoku.domains.racing.clients.base import FetchTooLarge

    c = h.client(Session(reads=[A, B, C]), max_fetch_bytes=len(A) + 1)
    with pytest.raises(FetchTooLarge) as e:
        c.fetch_stored("RACE", "20240101000000")
    assert e.value.status == 413
    assert h.jv.call_names == ["JVInit", "JVOpen", "JVGets", "JVGets", "JVClose"]  # no read of C
