"""The one interface every racing upstream fits, and the JV-Link error type.

Synchronous on purpose: JV-Link is a single-threaded-apartment COM object, so
the COM client owns one thread and everything above it (the engine) moves calls
off the event loop itself. Records are raw JV-Data bytes including the trailing
CRLF, never decoded or stripped: padding is part of the fixed-width fields.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kasoku.errors import KasokuError

__all__ = ["ArtificialDelay", "JVLinkError", "UpstreamClient", "BUSY_RETRY_AFTER",
           "MAINTENANCE_RETRY_AFTER"]

# Seconds to suggest in Retry-After. A busy session frees up within a call;
# JRA-VAN maintenance windows last tens of minutes.
BUSY_RETRY_AFTER = 2
MAINTENANCE_RETRY_AFTER = 600


@runtime_checkable
class UpstreamClient(Protocol):
    """JV-Link semantics: -1 (no data) is an empty list, every other failure raises."""

    name: str

    def fetch_stored(self, dataspec: str, fromtime: str, option: int = 1) -> list[bytes]:
        """JVOpen + read loop: records of ``dataspec`` created since ``fromtime``."""
        ...

    def fetch_realtime(self, dataspec: str, key: str) -> list[bytes]:
        """JVRTOpen + read loop: records of a day (``YYYYMMDD``) or a race (16-char key)."""
        ...

    def status(self) -> dict[str, Any]:
        """A small JSON-able health summary for /health and metrics."""
        ...

    def close(self) -> None:
        """Release the upstream; further calls raise."""
        ...


_PARAMETER_CODES = frozenset({-111, -112, -113, -114, -115, -116})
_BUSY_CODES = frozenset({-202})
_MAINTENANCE_CODES = frozenset({-504})


DEFAULT_MAX_FETCH_BYTES = 256 * 1024 * 1024


class FetchTooLarge(KasokuError):
    """One fetch would hold more records than a server should keep in memory at once (413).

    JV-Link answers ``fromtime`` with *everything since*; over years of RACE data that is
    gigabytes (H6 alone is 100 KB a race). The caller narrows the range instead.
    """

    status = 413
    code = "FETCH_TOO_LARGE"

    def __init__(self, dataspec: str, size: int, limit: int) -> None:
        super().__init__(f"{dataspec}: the fetch holds more than {limit:,} bytes of records ({size:,} so far); "
                         "give a later from_time or a to_time to narrow it",
                         details={"data_spec": dataspec, "bytes": size, "limit": limit})


class JVLinkError(KasokuError):
    """A JV-Link return code that is an error, with its HTTP mapping (jvlink.md).

    Parameter codes (-111..-116) → 400; -202 (previous open not closed) → 503 busy;
    -504 maintenance → 503; auth/key/setup (-301.. -305, -211, -201, -501) and
    internal/server/download failures (-401, -411..-431, -402/-403 after retries,
    -502, -503) → 502. -1 is never raised: it means "no data".
    """

    def __init__(self, jvlink_code: int, message: str, *, details: dict[str, Any] | None = None) -> None:
        d = {**(details or {}), "jvlink_code": jvlink_code}
        headers: dict[str, str] = {}
        if jvlink_code in _PARAMETER_CODES:
            status, code = 400, "INVALID_PARAMETER"
        elif jvlink_code in _BUSY_CODES:
            status, code = 503, "UPSTREAM_UNAVAILABLE"
            headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        elif jvlink_code in _MAINTENANCE_CODES:
            status, code = 503, "UPSTREAM_UNAVAILABLE"
            headers["Retry-After"] = str(MAINTENANCE_RETRY_AFTER)
        else:
            status, code = 502, "UPSTREAM_ERROR"
        super().__init__(f"JV-Link {jvlink_code}: {message}", details=d, status=status, code=code,
                         headers=headers)
        self.jvlink_code = jvlink_code


@dataclass
class ArtificialDelay:
    """Sleep a uniformly drawn time per call, to mimic COM latency in benchmarks.

    Randomness and sleeping are passed in so benchmarks are reproducible and tests
    need not sleep.
    """

    low: float
    high: float
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"delay range must satisfy 0 <= low <= high, got ({self.low}, {self.high})")

    def apply(self) -> float:
        seconds = self.rng.uniform(self.low, self.high)
        if seconds > 0:
            self.sleep(seconds)
        return seconds
