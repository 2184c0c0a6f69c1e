"""A stand-in for the JV-Link COM object that replays a script, for tests and Linux benchmarks.

It speaks the call convention :class:`~kasoku.domains.racing.clients.com.ComClient`
uses (pywin32's out-parameters as tuples), records every call with the thread
that made it, and behaves like the real component where that matters to a
client: -202 on a second open before ``JVClose``, -201 before ``JVInit``, a call
from a thread other than the creating one raises (an STA object would fail).

Two ways to script it:

* ``sessions``: a list of :class:`Session`, consumed one per ``JVOpen``/``JVRTOpen``,
  each with the open's return code, the ``JVStatus`` progress and the exact read
  results (records, -1 file switches, -3 waits, -402/-403/-502 codes).
* ``records``: ``{dataspec: [raw records]}`` served like JV-Link would: stored data
  filtered by the header's creation date against ``fromtime`` (one "file" per
  creation date, -1 between files), realtime by race day or race key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "ScriptedJVLink", "Session", "WrongThread"]

Read = bytes | int


class WrongThread(RuntimeError):
    """A COM call from a thread that did not create the object (RPC_E_WRONG_THREAD)."""


@dataclass
class Session:
    """One scripted open: its return code and what the read loop will see."""

    ret: int = 0
    reads: list[Read] = field(default_factory=list)
    downloadcount: int = 0
    status: list[int] = field(default_factory=list)  # successive JVStatus results
    hang: threading.Event | None = None  # JVOpen blocks until set (a dialog, a stuck server)

    @property
    def readcount(self) -> int:
        return sum(1 for r in self.reads if isinstance(r, bytes))


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    thread: int


def _header_date(rec: bytes) -> str:
    return rec[3:11].decode("ascii", "replace")


class ScriptedJVLink:
    """Replays sessions; ``calls`` is the exact call sequence for assertions."""

    def __init__(self, sessions: Iterable[Session] = (), *, records: Mapping[str, list[bytes]] | None = None,
                 init_code: int = 0, gets: bool = True) -> None:
        self.owner = threading.get_ident()
        self.sessions = list(sessions)
        self.records = dict(records or {})
        self.init_code = init_code
        self.gets = gets
        self.calls: list[Call] = []
        self.deleted: list[str] = []
        self.opens = 0
        self._initialised = False
        self._current: Session | None = None
        self._pos = 0
        self._file = 1
        self._status_pos = 0

    # --- bookkeeping ---------------------------------------------------------------

    def _record(self, name: str, *args: Any) -> None:
        me = threading.get_ident()
        self.calls.append(Call(name, args, me))
        if me != self.owner:
            raise WrongThread(f"{name} called from thread {me}, object owned by {self.owner}")

    @property
    def call_names(self) -> list[str]:
        return [c.name for c in self.calls]

    def _next_session(self, kind: str, dataspec: str, arg: str) -> Session:
        if self.sessions:
            return self.sessions.pop(0)
        return self._serve(kind, dataspec, arg)

    def _serve(self, kind: str, dataspec: str, arg: str) -> Session:
        """JV-Link's selection over ``records``; one file per creation date."""
        recs = self.records.get(dataspec, [])
        if kind == "stored":
            start, _, end = arg.partition("-")
            lo, hi = start[:8], end[:8] or None
            chosen = [r for r in recs if _header_date(r) >= lo and (hi is None or _header_date(r) <= hi)]
            chosen.sort(key=_header_date)  # stable: file order within a day is kept
        else:
            field_ = slice(11, 19) if len(arg) == 8 else slice(11, 27)
            chosen = [r for r in recs if r[field_].decode("ascii", "replace") == arg]
        if not chosen:
            return Session(ret=-1)
        reads: list[Read] = []
        for i, rec in enumerate(chosen):
            if i and kind == "stored" and _header_date(rec) != _header_date(chosen[i - 1]):
                reads.append(-1)
            reads.append(rec)
        return Session(reads=reads)

    # --- the JV-Link surface ------------------------------------------------------

    def JVInit(self, sid: str) -> int:  # noqa: N802 - COM method names
        self._record("JVInit", sid)
        self._initialised = self.init_code == 0
        return self.init_code

    def _open(self, kind: str, dataspec: str, arg: str) -> Session | int:
        if not self._initialised:
            return -201
        if self._current is not None:
            return -202
        session = self._next_session(kind, dataspec, arg)
        self.opens += 1
        if session.hang is not None:
            session.hang.wait(10.0)
        if session.ret == 0 or session.ret == -1:
            # JV-Link keeps the session open even for -1; JVClose is still expected
            self._current = session
            self._pos = 0
            self._file = 1
            self._status_pos = 0
        return session if session.ret == 0 else session.ret

    def JVOpen(self, dataspec: str, fromtime: str, option: int) -> tuple[int, int, int, str]:  # noqa: N802
        self._record("JVOpen", dataspec, fromtime, option)
        got = self._open("stored", dataspec, fromtime)
        if isinstance(got, int):
            return got, 0, 0, ""
        return 0, got.readcount, got.downloadcount, "20240101000000"

    def JVRTOpen(self, dataspec: str, key: str) -> int:  # noqa: N802
        self._record("JVRTOpen", dataspec, key)
        got = self._open("realtime", dataspec, key)
        return got if isinstance(got, int) else 0

    def JVStatus(self) -> int:  # noqa: N802
        self._record("JVStatus")
        s = self._current
        if s is None:
            return -203
        if self._status_pos < len(s.status):
            self._status_pos += 1
            return s.status[self._status_pos - 1]
        return s.downloadcount

    def _next_read(self) -> tuple[int, bytes, str]:
        s = self._current
        if s is None:
            return -203, b"", ""
        fname = f"F{self._file:04d}.jvd"
        if self._pos >= len(s.reads):
            return 0, b"", ""
        item = s.reads[self._pos]
        self._pos += 1
        if isinstance(item, bytes):
            return len(item), item, fname
        if item == -1:
            self._file += 1
        return item, b"", fname

    def JVGets(self) -> tuple[int, bytes, str]:  # noqa: N802
        if not self.gets:
            raise AttributeError("JVGets")
        self._record("JVGets")
        return self._next_read()

    def JVRead(self) -> tuple[int, str, int, str]:  # noqa: N802
        """Like pywin32's JVRead: the record as text (the client must re-encode it)."""
        self._record("JVRead")
        ret, buff, fname = self._next_read()
        return ret, buff.decode("cp932"), max(ret, 0), fname

    def JVSkip(self) -> int:  # noqa: N802
        self._record("JVSkip")
        s = self._current
        while s is not None and self._pos < len(s.reads) and s.reads[self._pos] != -1:
            self._pos += 1
        return 0

    def JVFiledelete(self, fname: str) -> int:  # noqa: N802
        self._record("JVFiledelete", fname)
        self.deleted.append(fname)
        return 0

    def JVClose(self) -> int:  # noqa: N802
        self._record("JVClose")
        self._current = None
        return 0
