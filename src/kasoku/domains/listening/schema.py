"""The one plays schema every import format is normalised to (documented in docs/listening.md).

A play is one stream of one music track by one user. ``played_at`` is the instant the
stream *ended* (UTC); ``ms_played`` is the time actually listened, never the track length
(the original system's fault), except for Web API polls, which only know the track length
(``source = 'webapi'``; see docs).

Identity: ``play_id`` = blake2b of (user_id, track_key, played_at to the second), where
``track_key`` is the case-folded ``artist \\x1f track`` pair. Names, not URIs, make the key, so
the same play read from an extended export, an account-data export and a Web API poll
gets one id (account data has no URIs at all). Account data has minute precision: the n-th
play of one track ending in one minute of a file adds n (from the second on) to the key.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

PLAYS_SCHEMA = pa.schema(
    [
        pa.field("play_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("played_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ms_played", pa.int64(), nullable=False),
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("track_name", pa.string(), nullable=False),
        pa.field("artist_name", pa.string(), nullable=False),
        pa.field("album_name", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("country", pa.string()),
        pa.field("reason_start", pa.string()),
        pa.field("reason_end", pa.string()),
        pa.field("shuffle", pa.bool_()),
        pa.field("skipped", pa.bool_()),
        pa.field("source", pa.string(), nullable=False),  # extended | local (a local file in an extended export) | account | webapi
    ]
)

# Podcast episodes and audiobook chapters: kept apart from music plays.
EPISODES_SCHEMA = pa.schema(
    [
        pa.field("play_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("played_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("ms_played", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # episode | audiobook
        pa.field("uri", pa.string()),
        pa.field("title", pa.string()),
        pa.field("show_name", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("source", pa.string(), nullable=False),
    ]
)

# When two sources deliver the same play, the richer one wins.
SOURCE_PRIORITY = {"extended": 0, "local": 0, "webapi": 1, "account": 2}


def track_key(artist_name: str, track_name: str) -> str:
    return f"{artist_name.casefold().strip()}\x1f{track_name.casefold().strip()}"


def derived_track_id(artist_name: str, track_name: str) -> str:
    """A stable id for tracks that arrive without a Spotify URI (account-data history)."""
    digest = hashlib.blake2b(track_key(artist_name, track_name).encode(), digest_size=11).hexdigest()
    return f"local:{digest}"


def play_id(user_id: str, artist_name: str, track_name: str, played_at: datetime, occurrence: int = 0) -> str:
    """Stable play identity: same inputs give the same id in any process on any machine.

    ``occurrence``: the n-th play of this track ending at this (minute-precision) time in one
    account-data file, counted from 0. Two such plays are two plays; the first keeps the id it
    always had, and a re-import of the same file gives the same ids again.
    """
    if played_at.tzinfo is None:
        played_at = played_at.replace(tzinfo=timezone.utc)
    second = played_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    raw = f"{user_id}\x1e{track_key(artist_name, track_name)}\x1e{second}"
    if occurrence:
        raw += f"\x1e#{occurrence}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def _folded(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``casefold().strip()`` of every value, computed once per distinct value."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    folded = pa.array([v.casefold().strip() for v in encoded.dictionary.to_pylist()], pa.string())
    return folded.take(encoded.indices)


def play_ids(user_id: str, artist_names: pa.Array | pa.ChunkedArray, track_names: pa.Array | pa.ChunkedArray,
             seconds: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`play_id` (occurrence 0) of every row, from columns: ``seconds`` are the UTC
    ``YYYY-MM-DDTHH:MM:SS`` strings of ``played_at``. The same ids, with Python work only per
    distinct name and one hash per row."""
    if len(seconds) == 0:
        return pa.array([], pa.string())
    key = pc.binary_join_element_wise(_folded(artist_names), _folded(track_names), "\x1f")
    raw = pc.binary_join_element_wise(pa.scalar(user_id), key, seconds, "\x1e").cast(pa.binary())
    blake2b = hashlib.blake2b
    return pa.array([blake2b(r, digest_size=16).hexdigest() for r in raw.to_pylist()], pa.string())
