"""The per-caller rate limit (api/limits.py RateLimiter): its GCRA form answers exactly as a
token bucket (capacity = the window's amount, refilled continuously) — checked against a
plain token bucket, hit by hit, over random arrivals on a clock of exact binary fractions."""

from __future__ import annotations

import math
import random

import pytest
from limits import parse_many

from kasoku.api.limits import RateLimiter


class TokenBuckets:
    """The reference: one bucket per window, tokens counted as floats."""

    def __init__(self, spec: str) -> None:
        self.windows = [(float(i.amount), i.amount / i.get_expiry()) for i in parse_many(spec)]
        self.buckets: dict[str, list[float]] = {}

    def hit(self, caller: str, now: float) -> float | None:
        bucket = self.buckets.setdefault(caller, [now, *(c for c, _ in self.windows)])
        elapsed, bucket[0] = now - bucket[0], now
        wait = 0.0
        for i, (capacity, rate) in enumerate(self.windows, start=1):
            bucket[i] = min(capacity, bucket[i] + elapsed * rate)
            if bucket[i] < 1.0:
                wait = max(wait, (1.0 - bucket[i]) / rate)
        if wait > 0.0:
            return float(max(1, math.ceil(wait)))
        for i in range(1, len(bucket)):
            bucket[i] -= 1.0
        return None


# amounts and windows whose rates and intervals are exact binary fractions (15/minute: a token
# every 4 s), so neither side rounds and a wait of exactly 3 s is 3 on both
@pytest.mark.parametrize("spec", ["4/second", "2/second;15/minute", "15/minute", "1/second;15/minute;225/hour"])
def test_gcra_answers_as_a_token_bucket(spec: str) -> None:
    rng = random.Random(spec)
    now = [0.0]
    limiter = RateLimiter(spec, clock=lambda: now[0])
    reference = TokenBuckets(spec)
    refused = 0
    for _ in range(5000):
        now[0] += rng.choice([0, 0, 1, 2, 4, 8, 16, 64, 640]) / 64  # exact in binary: no rounding either way
        caller = rng.choice(["key:a", "key:b", "addr:127.0.0.1"])
        expected = reference.hit(caller, now[0])
        assert limiter.hit(caller) == expected, (spec, now[0], caller)
        refused += expected is not None
    assert 0 < refused < 5000  # both outcomes were exercised


def test_a_burst_then_retry_after() -> None:
    now = [100.0]
    limiter = RateLimiter("3/minute", clock=lambda: now[0])
    assert [limiter.hit("k") for _ in range(3)] == [None, None, None]
    assert limiter.hit("k") == 20.0  # a token every 20 s
    assert limiter.hit("other") is None  # per caller
    now[0] += 19.5
    assert limiter.hit("k") == 1.0  # rounded up to whole seconds, at least 1
    now[0] += 0.5
    assert limiter.hit("k") is None and limiter.hit("k") == 20.0


def test_no_spec_is_no_limit() -> None:
    assert not RateLimiter("").enabled and RateLimiter("1/second").enabled
