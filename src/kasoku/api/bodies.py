"""Wire bodies of a cache entry: made once per (format, coding) and kept on the entry.

The engine hands out entries (Arrow IPC payload + header); everything HTTP about an answer —
its encoding, compression and ETag — is made here, on first request, and memoised in the
entry's ``bodies`` (the engine charges their bytes to L1 but never looks inside). A hit is
then a dictionary lookup: no serialisation, no compression.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kasoku.api import compression, encoders
from kasoku.engine.entry import Entry


@dataclass(frozen=True, slots=True)
class Body:
    """Bytes ready for the wire, with the ETag that names them."""

    content: bytes
    etag: str
    fmt: str
    encoding: str

    def __len__(self) -> int:
        """What L1 charges for keeping this body on its entry."""
        return len(self.content) + 64


def stored_body(entry: Entry, fmt: str, encoding: str) -> Body | None:
    """The body if it was made before (the fast path's lookup)."""
    return entry.bodies.get((fmt, encoding))  # type: ignore[return-value]


def body_of(entry: Entry, fmt: str, encoding: str, *, min_compress: int = 1024) -> Body:
    """The (format, encoding) body of ``entry``, made once. Small bodies stay identity-encoded."""
    found = stored_body(entry, fmt, encoding)
    if found is not None:
        return found
    plain = stored_body(entry, fmt, "identity")
    if plain is None:
        raw = encoders.encode(entry.table(), entry.meta, entry.rows_key, fmt)
        plain = Body(raw, _etag(raw, fmt, "identity"), fmt, "identity")
        entry.bodies[(fmt, "identity")] = plain
    if encoding == "identity" or len(plain.content) < min_compress:
        if encoding != "identity":
            entry.bodies[(fmt, encoding)] = plain  # remember: too small to be worth compressing
        return plain
    packed = compression.compress(plain.content, encoding)
    body = Body(packed, _etag(packed, fmt, encoding), fmt, encoding)
    entry.bodies[(fmt, encoding)] = body
    return body


def _etag(content: bytes, fmt: str, encoding: str) -> str:
    digest = hashlib.blake2b(content, digest_size=12).hexdigest()
    return f'"{digest}-{fmt}-{encoding}"'
