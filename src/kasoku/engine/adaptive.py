"""Adaptive TTL (the original design's last stage): hot answers that do not change get to live longer.

Opt-in per dataset (``Policy.adaptive``). At each refresh of a key we compare the new
answer's digest with the previous one:

- unchanged, and read at least ``adaptive_min_reads`` times since the last refresh
  → the TTL factor doubles, up to ``adaptive_max_factor``;
- changed → back to the base TTL (the data moves: refresh as often as the policy says);
- otherwise the factor stays.

The factor multiplies both tiers' TTLs. State is per process and bounded (oldest keys are
forgotten first); a forgotten key simply starts again at the base TTL.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from kasoku.engine.types import Policy


@dataclass(slots=True)
class _KeyState:
    digest: bytes
    factor: float = 1.0
    reads: int = 0


class AdaptiveTTL:
    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()

    def read(self, key: str) -> None:
        """A cache hit on ``key`` (only tracked keys count: those of adaptive datasets)."""
        state = self._keys.get(key)
        if state is not None:
            state.reads += 1

    def refreshed(self, key: str, payload: bytes, policy: Policy) -> float:
        """The source answered ``key`` again: returns the TTL factor for the new entry."""
        if not policy.adaptive:
            return 1.0
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        state = self._keys.pop(key, None)
        if state is None:
            state = _KeyState(digest)
        elif state.digest != digest:
            state = _KeyState(digest)
        elif state.reads >= policy.adaptive_min_reads:
            state = _KeyState(digest, factor=min(state.factor * 2, max(1.0, policy.adaptive_max_factor)))
        else:
            state = _KeyState(digest, factor=state.factor)
        self._keys[key] = state
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return state.factor

    def factor(self, key: str) -> float:
        state = self._keys.get(key)
        return state.factor if state is not None else 1.0

    def chosen(self, base: dict[str, Policy]) -> dict[str, dict[str, float]]:
        """Keys whose TTL was lengthened, with the TTLs in force (for ``/admin/cache``)."""
        out: dict[str, dict[str, float]] = {}
        for key, state in self._keys.items():
            policy = base.get(key.split(":", 1)[0])
            if policy is None or state.factor == 1.0:
                continue
            out[key] = {"factor": state.factor, "ttl_l1": policy.ttl_l1 * state.factor,
                        "ttl_l2": policy.ttl_l2 * state.factor, "reads_since_refresh": state.reads}
        return out
