"""Content codings: br, zstd, gzip, lz4 (frame) and identity, each one function of bytes."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import brotli
import lz4.frame
import zstandard

# Levels picked for a cache that compresses once and serves many times: brotli 5 and zstd 6
# are far smaller than gzip at a cost paid only on a miss.
_ZSTD = zstandard.ZstdCompressor(level=6)

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "br": lambda data: brotli.compress(data, quality=5),
    "zstd": _ZSTD.compress,
    "gzip": lambda data: gzip.compress(data, compresslevel=6, mtime=0),
    "lz4": lambda data: lz4.frame.compress(data),
    "identity": lambda data: data,
}

DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompress(data),
    "gzip": gzip.decompress,
    "lz4": lz4.frame.decompress,
    "identity": lambda data: data,
}


def compress(data: bytes, encoding: str) -> bytes:
    return COMPRESSORS[encoding](data)


def decompress(data: bytes, encoding: str) -> bytes:
    return DECOMPRESSORS[encoding](data)
