"""Connections that never finish a request head, and heads too large, against ``kasoku serve``
in a subprocess (the real CLI, uvicorn, the httptools parser it runs) over raw sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[3]
HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class Served:
    def __init__(self, tmp: Path, *args: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kasoku", "serve", "--port", str(self.port), "--lake", str(tmp / "lake"), "--create",
             "--state", str(tmp / "state"), *args],
            cwd=tmp, env=dict(os.environ, PYTHONPATH=str(ROOT / "src"), **env),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            try:
                if httpx.get(self.url + "/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("kasoku serve did not answer")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.settimeout(30)  # far beyond the 1 s header timeout: a socket the server never closes fails the test
        return sock

    def rss_kib(self, pid: int | None = None) -> int:
        for line in Path(f"/proc/{pid or self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("conn"), env={"KASOKU_LIMITS__HEADER_TIMEOUT": "1"})
    try:
        yield server
    finally:
        server.stop()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def test_connections_that_send_no_complete_head_are_closed(served: Served) -> None:
    silent = [served.connect() for _ in range(300)]
    partial = [served.connect() for _ in range(50)]
    for sock in partial:
        sock.sendall(HEAD)  # no blank line: the head never ends
    # a well-behaved client is answered meanwhile
    assert httpx.get(served.url + "/health/live", timeout=10).status_code == 200
    for sock in silent:
        assert read_all(sock) == b""  # closed without a word: nothing was asked
        sock.close()
    for sock in partial:
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"REQUEST_TIMEOUT" in answer
        sock.close()


def test_a_head_sent_a_byte_at_a_time_is_cut_off(served: Served) -> None:
    sock = served.connect()
    sock.sendall(HEAD)
    sent = 0
    with pytest.raises(OSError):  # broken pipe / reset once the server has closed
        for _ in range(200):  # 200 x 0.1 s: far past the 1 s timeout
            sock.sendall(b"X-Slow: a\r\n")
            sent += 1
            time.sleep(0.1)
    assert sent < 200
    sock.close()


def test_a_keep_alive_connection_must_send_its_next_head_in_time(served: Served) -> None:
    sock = served.connect()
    sock.sendall(HEAD + b"\r\n")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ")
    sock.sendall(HEAD)  # the next request's head, never finished (each byte would reset keep-alive)
    assert b"HTTP/1.1 408 " in read_all(sock)  # (after what was left of the first answer, if anything)
    sock.close()


def test_headers_over_the_limit_get_431_and_are_not_buffered(served: Served) -> None:
    before = served.rss_kib()
    for _ in range(5):
        sock = served.connect()
        sock.sendall(HEAD + b"X-Big: ")
        sent = 0
        try:
            while sent < 100 * 1024 * 1024:  # a 100 MB header, unless the server stops us
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        assert sent < 100 * 1024 * 1024
        answer = read_all(sock)
        sock.close()
        # the 431 is written before the close; a reset may lose it, never turn it into a 2xx
        assert answer == b"" or (answer.startswith(b"HTTP/1.1 431 ") and b"HEADERS_TOO_LARGE" in answer)
    assert served.rss_kib() - before < 30 * 1024  # 5 x 100 MB offered; nothing near that kept


def test_the_431_reaches_a_client_that_sends_a_large_head_at_once(served: Served) -> None:
    sock = served.connect()
    sock.sendall(HEAD + b"X-Big: " + b"a" * 40_000)  # over 16 KiB, less than the socket buffers hold
    answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and b'"limit":16384' in answer
    sock.close()


def test_heads_under_the_limit_and_bodies_are_untouched(served: Served) -> None:
    headers = {f"x-pad-{i}": "a" * 900 for i in range(12)}  # ~11 KB of headers: under 16 KiB
    assert httpx.get(served.url + "/health/live", headers=headers, timeout=10).status_code == 200
    # a head and a 600 KB body in one write: the body is not counted as header bytes
    response = httpx.post(served.url + "/v1/batch", content=b"[" + b" " * 600_000 + b"]",
                          headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 200  # an empty batch


def test_workers_bound_their_connections_too(tmp_path: Path) -> None:
    """``--workers`` processes get the protocol through a pickled config."""
    server = Served(tmp_path, "--workers", "2", env={"KASOKU_LIMITS__HEADER_TIMEOUT": "1"})
    try:
        socks = [server.connect() for _ in range(20)]
        for sock in socks:
            assert read_all(sock) == b""
            sock.close()
    finally:
        server.stop()
