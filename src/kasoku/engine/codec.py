"""Cache entry <-> bytes for the shared tier. No pickle: a header, msgpack metadata, Arrow IPC.

Layout (big-endian)::

    magic "KSKE" | codec version u8 | flags u8 | reserved u16 | meta length u32 | payload length u32
    | data version u64 | msgpack metadata | Arrow IPC payload

The header lets a reader reject foreign or truncated values (another program's key, an old
kasoku version) as a plain miss instead of decoding garbage. Deadlines are absolute epoch
seconds, so every worker agrees on how long an entry has left.

The data version (the snapshot the answer was computed from; flag bit 0 says whether there is
one) sits at a fixed offset, bytes 16..23, so the L2 put script compares it with a
``GETRANGE`` of the stored header, without decoding anything (engine/redis_tier.py).
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from kasoku.engine.entry import Entry

MAGIC = b"KSKE"
VERSION = 2
_HEADER = struct.Struct(">4sBBHIIQ")
HAS_DATA_VERSION = 1  # flag bit
HEADER_SIZE = _HEADER.size


class CodecError(ValueError):
    """Bytes that are not a kasoku entry of this version (treated as a miss)."""


def encode(entry: Entry, *, fresh_until: float | None = None, hard_until: float | None = None) -> bytes:
    """Serialise ``entry``; the deadlines may be overridden (L2 keeps its own, longer TTL)."""
    meta = {
        "created_at": entry.created_at,
        "fresh_until": entry.fresh_until if fresh_until is None else fresh_until,
        "hard_until": entry.hard_until if hard_until is None else hard_until,
        "tags": sorted(entry.tags),
        "source": entry.source,
        "meta": entry.meta,
        "rows_key": entry.rows_key,
        "rows": entry.rows,
    }
    try:
        packed = msgpack.packb(meta, use_bin_type=True)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"entry metadata is not serialisable: {exc}") from exc
    flags, data_version = (0, 0) if entry.version is None else (HAS_DATA_VERSION, entry.version)
    if not 0 <= data_version < 2**53:  # the Lua compare reads it as a double
        raise CodecError(f"data version out of range: {data_version}")
    return _HEADER.pack(MAGIC, VERSION, flags, 0, len(packed), len(entry.payload), data_version) + packed + entry.payload


def decode(data: bytes) -> Entry:
    """Parse bytes written by :func:`encode`; raises :class:`CodecError` on anything else."""
    if len(data) < HEADER_SIZE:
        raise CodecError("value shorter than the header")
    magic, version, flags, _reserved, meta_len, payload_len, data_version = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError("not a kasoku entry (bad magic)")
    if version != VERSION:
        raise CodecError(f"entry version {version}, expected {VERSION}")
    if HEADER_SIZE + meta_len + payload_len != len(data):
        raise CodecError("entry length does not match its header")
    try:
        meta: dict[str, Any] = msgpack.unpackb(data[HEADER_SIZE:HEADER_SIZE + meta_len], raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise CodecError(f"bad entry metadata: {exc}") from exc
    try:
        return Entry(payload=bytes(data[HEADER_SIZE + meta_len:]), meta=dict(meta["meta"]),
                     tags=frozenset(meta["tags"]), source=str(meta["source"]), rows_key=str(meta["rows_key"]),
                     created_at=float(meta["created_at"]), fresh_until=float(meta["fresh_until"]),
                     hard_until=float(meta["hard_until"]), rows=int(meta["rows"]),
                     version=data_version if flags & HAS_DATA_VERSION else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"incomplete entry metadata: {exc}") from exc
