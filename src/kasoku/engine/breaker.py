"""A circuit breaker for Redis: stop calling a dead server, probe it, come back on its own.

closed --(``failures`` in a row)--> open --(``reset`` seconds)--> half-open (one probe)
half-open --probe ok--> closed;  half-open --probe fails--> open again.

While open, every Redis call is skipped at once (a miss / no-op), so a dead or slow Redis
costs requests nothing instead of a timeout each. Time is injected so tests need no sleeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
STATE_VALUES: dict[State, float] = {"closed": 0.0, "open": 1.0, "half_open": 0.5}


class Breaker:
    def __init__(self, *, failures: int, reset: float, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[State], None] | None = None) -> None:
        if failures < 1 or reset <= 0:
            raise ValueError("breaker needs failures >= 1 and reset > 0")
        self.threshold = failures
        self.reset = reset
        self._clock = clock
        self._on_change = on_change
        self.state: State = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.opens = 0  # how many times it opened (for /admin/cache)
        self._probe_at = 0.0

    def allow(self) -> bool:
        """May a call go to Redis now? In half-open, only the single probe may."""
        if self.state == "closed":
            return True
        now = self._clock()
        if self.state == "open" and now - self.opened_at >= self.reset:
            self._set("half_open")
            self._probe_at = now
            return True  # this caller is the probe
        if self.state == "half_open" and now - self._probe_at >= self.reset:
            self._probe_at = now  # the last probe never reported (cancelled): let another through
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        if self.state != "closed":
            log.info("redis is answering again: circuit breaker closed")
            self._set("closed")

    def failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or (self.state == "closed" and self.failures >= self.threshold):
            if self.state == "closed":
                log.warning("redis failed %d times in a row: circuit breaker open for %.1f s", self.failures, self.reset)
            self.opened_at = self._clock()
            self.opens += 1
            self._set("open")

    def _set(self, state: State) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)
