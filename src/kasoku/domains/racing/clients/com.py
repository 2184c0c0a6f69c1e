"""JV-Link over COM (pywin32), owned by one dedicated thread.

JV-Link is a single-threaded-apartment object with one session at a time (a
second JVOpen before JVClose is -202), so the seed's "connection pool" becomes:
one thread that creates and alone calls the object, a bounded queue in front of
it, coalescing of identical in-flight requests, and a clear 503 + Retry-After
when the queue is full or a call runs past its deadline (update dialogs can
block JVOpen for minutes).

``win32com``/``pythoncom`` are imported only inside :class:`JVLinkDispatch`, so
this module imports on Linux; tests drive :class:`ComClient` with
:class:`~kasoku.domains.racing.clients.scripted.ScriptedJVLink`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from typing import Any

from kasoku.domains.racing import catalogue
from kasoku.domains.racing.clients.base import BUSY_RETRY_AFTER, DEFAULT_MAX_FETCH_BYTES, FetchTooLarge, JVLinkError
from kasoku.errors import KasokuError, UpstreamError, UpstreamUnavailable

__all__ = ["ComClient", "JVLinkDispatch"]

log = logging.getLogger(__name__)

BUFFER_SIZE = 110_000  # largest record (H6) is 102,890 bytes
_CORRUPT = frozenset({-402, -403})


class JVLinkDispatch:
    """The real factory: CoInitialize on the calling (COM) thread, then create JV-Link.

    The returned adapter gives JV-Link's out-parameters the tuple shape ComClient
    expects (placeholders for pywin32's by-reference arguments). Not exercised on
    Linux; checked against public pywin32 usage only.
    """

    def __init__(self, progid: str = "JVDTLab.JVLink") -> None:
        self.progid = progid

    def __call__(self) -> Any:
        import pythoncom  # type: ignore[import-not-found]
        import win32com.client  # type: ignore[import-not-found]

        pythoncom.CoInitialize()
        return _DispatchAdapter(win32com.client.Dispatch(self.progid))

    def release(self) -> None:
        import pythoncom  # type: ignore[import-not-found]

        pythoncom.CoUninitialize()


class _DispatchAdapter:
    def __init__(self, jv: Any) -> None:
        self._jv = jv

    def JVInit(self, sid: str) -> int:  # noqa: N802
        return int(self._jv.JVInit(sid))

    def JVOpen(self, dataspec: str, fromtime: str, option: int) -> tuple[int, int, int, str]:  # noqa: N802
        ret, readcount, downloadcount, lastts = self._jv.JVOpen(dataspec, fromtime, option, 0, 0, "")
        return int(ret), int(readcount), int(downloadcount), str(lastts)

    def JVRTOpen(self, dataspec: str, key: str) -> int:  # noqa: N802
        return int(self._jv.JVRTOpen(dataspec, key))

    def JVStatus(self) -> int:  # noqa: N802
        return int(self._jv.JVStatus())

    def JVGets(self) -> tuple[int, bytes, str]:  # noqa: N802
        ret, buff, fname = self._jv.JVGets(b"", BUFFER_SIZE, "")
        return int(ret), bytes(buff or b""), str(fname)

    def JVRead(self) -> tuple[int, str, int, str]:  # noqa: N802
        ret, buff, size, fname = self._jv.JVRead("", BUFFER_SIZE, "")
        return int(ret), str(buff or ""), int(size), str(fname)

    def JVSkip(self) -> int:  # noqa: N802
        return int(self._jv.JVSkip())

    def JVFiledelete(self, fname: str) -> int:  # noqa: N802
        return int(self._jv.JVFiledelete(fname))

    def JVClose(self) -> int:  # noqa: N802
        return int(self._jv.JVClose())


class _Corrupt(Exception):
    """-402/-403: the downloaded file is bad; delete it and reopen."""

    def __init__(self, code: int, fname: str) -> None:
        super().__init__(code, fname)
        self.code, self.fname = code, fname


@dataclass(eq=False)
class _Job:
    key: Hashable
    run: Callable[[Any], list[bytes]]
    future: Future[list[bytes]] = field(default_factory=Future)
    waiters: int = 0


_STOP = object()


def _busy(message: str, **details: Any) -> UpstreamUnavailable:
    return UpstreamUnavailable(message, details=details, headers={"Retry-After": str(BUSY_RETRY_AFTER)})


class ComClient:
    """An :class:`UpstreamClient` over JV-Link; safe to call from any number of threads."""

    name = "com"

    def __init__(self, factory: Callable[[], Any], *, sid: str, queue_size: int = 16,
                 call_timeout: float = 30.0, poll_interval: float = 0.1, max_reopens: int = 2,
                 work_timeout: float | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, max_fetch_bytes: int = DEFAULT_MAX_FETCH_BYTES) -> None:
        self._factory = factory
        self._max_fetch_bytes = max_fetch_bytes
        self._sid = sid
        self._call_timeout = call_timeout
        self._poll = poll_interval
        self._max_reopens = max_reopens
        # bounds the COM thread's own waits (-3, JVStatus) even when every caller gave up
        self._work_timeout = work_timeout if work_timeout is not None else 10 * call_timeout
        self._sleep = sleep
        self._clock = clock
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.RLock()
        self._inflight: dict[Hashable, _Job] = {}
        self._closed = False
        self._use_gets: bool | None = None
        self._stats = {"calls": 0, "coalesced": 0, "rejected": 0, "timeouts": 0, "errors": 0}
        self._last_error: int | None = None
        self._initialised = False
        self._thread = threading.Thread(target=self._worker, name="jvlink-com", daemon=True)
        self._thread.start()

    # --- UpstreamClient ----------------------------------------------------------

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        spec = catalogue.get_dataspec(dataspec)
        catalogue.validate_fromtime(spec, fromtime)
        catalogue.validate_option(spec, option)
        label = f"JVOpen({dataspec}, {fromtime}, {option})"

        def run(jv: Any) -> list[bytes]:
            return self._with_reopen(jv, label, lambda: self._open_stored(jv, dataspec, fromtime, option))

        return self._submit(("stored", dataspec, fromtime, option), run)

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        spec = catalogue.get_dataspec(dataspec)
        catalogue.validate_realtime_key(spec, key)
        label = f"JVRTOpen({dataspec}, {key})"

        def run(jv: Any) -> list[bytes]:
            return self._with_reopen(jv, label, lambda: self._check_open(jv.JVRTOpen(dataspec, key), label))

        return self._submit(("realtime", dataspec, key), run)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "closed": self._closed, "initialised": self._initialised,
                    "thread_alive": self._thread.is_alive(), "queue_depth": self._queue.qsize(),
                    "queue_size": self._queue.maxsize, "inflight": len(self._inflight),
                    "last_jvlink_code": self._last_error, **self._stats}

    def close(self) -> None:
        """Fail queued requests with 503, stop the COM thread and release the object."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Job) and job.future.set_running_or_notify_cancel():
                job.future.set_exception(_busy("JV-Link client is shutting down"))
        self._queue.put(_STOP, timeout=self._call_timeout)
        self._thread.join(timeout=self._call_timeout)

    # --- caller side ---------------------------------------------------------------

    def _submit(self, key: Hashable, run: Callable[[Any], list[bytes]]) -> list[bytes]:
        with self._lock:
            if self._closed:
                raise UpstreamUnavailable("JV-Link client is closed")
            self._stats["calls"] += 1
            job = self._inflight.get(key)
            if job is not None:
                self._stats["coalesced"] += 1
            else:
                job = _Job(key, run)
                try:
                    self._queue.put_nowait(job)
                except queue.Full:
                    self._stats["rejected"] += 1
                    raise _busy("JV-Link request queue is full", queue_size=self._queue.maxsize) from None
                self._inflight[key] = job
                job.future.add_done_callback(lambda _f, job=job: self._forget(job))
            job.waiters += 1
        try:
            return list(job.future.result(timeout=self._call_timeout))
        except TimeoutError:
            with self._lock:
                self._stats["timeouts"] += 1
                job.waiters -= 1
                if job.waiters == 0:
                    job.future.cancel()  # only succeeds while still queued
            raise _busy(f"JV-Link call exceeded its {self._call_timeout:g}s deadline",
                        timeout=self._call_timeout) from None
        except CancelledError:
            raise _busy("JV-Link request was cancelled") from None

    def _forget(self, job: _Job) -> None:
        with self._lock:
            if self._inflight.get(job.key) is job:
                del self._inflight[job.key]

    # --- COM thread ------------------------------------------------------------------

    def _worker(self) -> None:
        jv: Any = None
        try:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    return
                if not job.future.set_running_or_notify_cancel():
                    continue
                try:
                    if jv is None:
                        jv = self._start()
                    result = job.run(jv)
                except KasokuError as e:
                    self._note_error(e)
                    job.future.set_exception(e)
                except Exception as e:  # a COM exception: the object may be broken, recreate it
                    log.exception("JV-Link COM call failed")
                    jv = None
                    with self._lock:
                        self._initialised = False
                    err = UpstreamError(f"JV-Link COM call failed: {e!r}")
                    self._note_error(err)
                    job.future.set_exception(err)
                else:
                    job.future.set_result(result)
        finally:
            jv = None
            release = getattr(self._factory, "release", None)
            if callable(release):
                try:
                    release()
                except Exception:
                    log.exception("releasing JV-Link failed")

    def _note_error(self, e: KasokuError) -> None:
        with self._lock:
            self._stats["errors"] += 1
            code = e.details.get("jvlink_code")
            self._last_error = code if isinstance(code, int) else None

    def _start(self) -> Any:
        """Create the object on this thread and JVInit it; on failure the next call retries."""
        jv = self._factory()
        ret = jv.JVInit(self._sid)
        if ret != 0:
            raise JVLinkError(ret, "JVInit failed (-101 sid not set, -102 sid too long, -103 sid invalid)")
        with self._lock:
            self._initialised = True
        log.info("JV-Link initialised on thread %s", threading.get_ident())
        return jv

    @staticmethod
    def _check_open(ret: int, label: str) -> bool:
        """True when there is data to read; -1 (no data) is False; other negatives raise."""
        if ret == -1:
            return False
        if ret < 0:
            raise JVLinkError(ret, f"{label} failed")
        return True

    def _open_stored(self, jv: Any, dataspec: str, fromtime: str, option: int) -> bool:
        ret, _readcount, downloadcount, _last = jv.JVOpen(dataspec, fromtime, option)
        if not self._check_open(ret, f"JVOpen({dataspec}, {fromtime}, {option})"):
            return False
        if downloadcount > 0:
            self._await_download(jv, downloadcount)
        return True

    def _with_reopen(self, jv: Any, label: str, open_: Callable[[], bool]) -> list[bytes]:
        """Open, read, always close; on a corrupt download delete the file and start over."""
        attempt = 0
        while True:
            try:
                try:
                    return self._read_all(jv, label) if open_() else []
                finally:
                    jv.JVClose()
            except _Corrupt as c:
                log.warning("%s: corrupt download %s (%d); deleting it", label, c.fname, c.code)
                jv.JVFiledelete(c.fname)
                attempt += 1
                if attempt > self._max_reopens:
                    raise JVLinkError(c.code, f"{label}: {c.fname} still corrupt after "
                                      f"{self._max_reopens} reopens", details={"file": c.fname}) from None

    def _await_download(self, jv: Any, downloadcount: int) -> None:
        deadline = self._clock() + self._work_timeout
        while True:
            done = jv.JVStatus()
            if done < 0:
                raise JVLinkError(done, "JVStatus failed while downloading")
            if done >= downloadcount:
                return
            if self._clock() > deadline:
                raise _busy("JV-Link download did not finish in time", downloaded=done, total=downloadcount)
            self._sleep(self._poll)

    def _read_one(self, jv: Any) -> tuple[int, bytes, str]:
        if self._use_gets is not False:
            try:
                ret, buff, fname = jv.JVGets()
                self._use_gets = True
                return ret, bytes(buff[:ret]) if ret > 0 else b"", fname
            except AttributeError:
                log.info("JVGets unavailable; falling back to JVRead")
                self._use_gets = False
        ret, text, _size, fname = jv.JVRead()
        # JVRead hands back text; re-encode to the bytes JV-Link meant (never strip)
        return ret, text.encode("cp932")[:ret] if ret > 0 else b"", fname

    def _read_all(self, jv: Any, label: str) -> list[bytes]:
        out: list[bytes] = []
        size = 0
        deadline: float | None = None
        while True:
            ret, rec, fname = self._read_one(jv)
            if ret > 0:
                out.append(rec)
                size += len(rec)
                if size > self._max_fetch_bytes:  # stop reading; the caller's finally closes JV-Link
                    raise FetchTooLarge(label, size, self._max_fetch_bytes)
                deadline = None  # progress: the download deadline restarts at the next -3
            elif ret == 0:
                return out
            elif ret == -1:  # end of one physical file
                deadline = None
                continue
            elif ret == -3:  # still downloading
                if deadline is None:
                    deadline = self._clock() + self._work_timeout
                elif self._clock() > deadline:
                    raise _busy("JV-Link file still downloading after the deadline", file=fname)
                self._sleep(self._poll)
            elif ret in _CORRUPT:
                raise _Corrupt(ret, fname)
            else:
                raise JVLinkError(ret, f"read failed on {fname or 'unknown file'}", details={"file": fname})
