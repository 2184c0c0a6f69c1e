"""One leader runs the scheduled jobs, however many processes run the scheduler.

:class:`FileLease`: an ``fcntl`` lock on ``<state>/scheduler.lock``, held for as long as the
process runs; the kernel releases it when the process dies (even ``kill -9``), and the next
job tick of another process takes it. For processes on one machine sharing a state directory.

:class:`RedisLease`: ``SET key token NX PX lease``, renewed on every job tick while held, given
up on shutdown; a dead leader's lease expires after ``spotify.lease_seconds``. For processes on
several machines (``redis_url`` set).
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Protocol

from kasoku.engine.constants import LEADER_PREFIX
from kasoku.state import ensure_state_dir


class Lease(Protocol):
    def acquire(self) -> bool: ...  # True while this process is the leader (renews when held)
    def release(self) -> None: ...
    @property
    def held(self) -> bool: ...


class FileLease:
    """Thread-safe: the scheduler's jobs run on a thread pool and several ask at once (the
    heartbeat and the first poll both start with the scheduler). Without the lock, a second
    ``flock`` in the same process — on its own file descriptor — fails against the first and
    the leader answers "not leader" to itself: the first poll was skipped until the next interval."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        with self._lock:
            return self._acquire()

    def _acquire(self) -> bool:
        if self._fd is not None:
            return True
        ensure_state_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLease:
    def __init__(self, url: str, *, name: str = "collector", lease_seconds: float = 60.0, client: Any = None) -> None:
        import redis

        self.client = client or redis.Redis.from_url(url)
        self.key = LEADER_PREFIX + name
        self.token = uuid.uuid4().hex
        self.ms = int(lease_seconds * 1000)
        self._held = False
        self._lock = threading.Lock()  # one SET/renew at a time (see FileLease)

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        with self._lock:
            if self.client.set(self.key, self.token, nx=True, px=self.ms):
                self._held = True
            else:
                self._held = bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ms))
            return self._held

    def release(self) -> None:
        with self._lock:
            if self._held:
                self.client.eval(_RELEASE, 1, self.key, self.token)
                self._held = False
            self.client.close()


def lease_for(settings: Any) -> Lease:
    if settings.redis_url:
        return RedisLease(settings.redis_url, lease_seconds=settings.spotify.lease_seconds)
    return FileLease(Path(settings.state) / "scheduler.lock")
