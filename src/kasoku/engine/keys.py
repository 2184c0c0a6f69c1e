"""Canonical query keys: the same question gives the same key in every process and machine.

Python's built-in string hashing is salted per process, so keys are blake2b digests of canonical JSON
(sorted keys, no whitespace, dates as ISO strings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from kasoku.engine.types import Query

KEY_VERSION = "1"  # bump when the meaning of a cached answer changes


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: keys sorted, no spaces, datetimes ISO; raises on non-JSON values."""
    return orjson.dumps(_normalise(value), option=orjson.OPT_SORT_KEYS | orjson.OPT_NAIVE_UTC)


def _normalise(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_normalise(v) for v in value)
    return value


def query_key(query: Query) -> str:
    """``<dataset>:<name>:<digest>`` — readable prefix, stable digest of everything that matters."""
    payload = canonical_json({"v": KEY_VERSION, "d": query.dataset, "n": query.name, "p": query.params, "s": query.scope})
    digest = hashlib.blake2b(payload, digest_size=16).hexdigest()
    return f"{query.dataset}:{query.name}:{digest}"
