"""Minimal fixed-width JV-Data records for tests: the header filled, the rest spaces.

The project's real record builder lives elsewhere; these only need the header
(bytes 1-11, and 12-27 for race-keyed records) and the right length.
"""

from __future__ import annotations

from kasoku.domains.racing.catalogue import RECORD_LENGTHS


def make_record(rt: str, *, created: str = "20240106", key: str = "2024010606010101",
                data_code: str = "2", body: str = "") -> bytes:
    """A cp932 record of type ``rt``: header, ``body`` from byte 28, spaces, CRLF."""
    length = max(RECORD_LENGTHS[rt])
    head = f"{rt}{data_code}{created}{key}{body}".encode("cp932")
    if len(head) > length - 2:
        raise ValueError("body too long")
    return head.ljust(length - 2, b" ") + b"\r\n"


def write_jvd(path, records: list[bytes]):  # type: ignore[no-untyped-def]
    """A file of raw records as JV-Link would save it."""
    path.write_bytes(b"".join(records))
    return path
