"""Extended-history files read by DuckDB into Arrow columns: no Python object per record.

The row-by-row reader in ``formats.py`` is the reference: it validates every record and
names the file and record of the first fault. This module is its fast twin for the common
case, a well-formed extended-history file: DuckDB's ``read_json`` parses the file with the
fields we keep as ``JSON`` columns, SQL checks every value's type exactly as strictly as the
reference does (and a little more: only ``YYYY-MM-DDTHH:MM:SSZ`` timestamps and integer
``ms_played``), classifies each record (track, local file, episode, audiobook, skipped) by
the reference's rules, and only the play identities are computed in Python
(:func:`kasoku.domains.listening.schema.play_ids`, over the columns).

When anything is off — a parse error, a duplicate key, a record that is not an object, a
value of the wrong type, a timestamp in another spelling — :func:`read_extended` returns
``None`` and the caller reads the file with the reference reader, which either accepts it
(a spelling only it knows) or raises the precise ``InputError``. So the two readers give the
same tables for every file (``tests/unit/listening/test_extended_columns.py``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.schema import EPISODES_SCHEMA, PLAYS_SCHEMA, derived_track_id, play_ids

_TEXT = ("platform", "conn_country", "master_metadata_track_name", "master_metadata_album_artist_name",
         "master_metadata_album_album_name", "spotify_track_uri", "episode_name", "episode_show_name",
         "spotify_episode_uri", "audiobook_title", "audiobook_uri", "audiobook_chapter_uri",
         "audiobook_chapter_title", "reason_start", "reason_end")
_FLAGS = ("shuffle", "skipped", "offline", "incognito_mode")
_COLUMNS = {name: "JSON" for name in ("ts", "ms_played", *_TEXT, *_FLAGS)}

_HEAD = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*\[\s*\{")
_SNIFF = 1 << 16  # bytes read to find the first record
# Only the spelling Spotify writes; the reference reader handles every other one.
_TS = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"


def looks_extended(raw: bytes) -> bool:
    """True if the document is a JSON array whose first element is an extended-history record
    (what ``formats._kind`` calls ``extended``), judged from the file's first bytes."""
    head = _HEAD.match(raw)
    if head is None:
        return False
    try:
        text = raw[head.end() - 1:head.end() - 1 + _SNIFF].decode("utf-8", errors="strict")
        first, _ = json.JSONDecoder().raw_decode(text)
    except (UnicodeDecodeError, ValueError):
        return False  # the first record is cut by the sniff window or not JSON: let the reference decide
    return isinstance(first, dict) and "ts" in first and "ms_played" in first


def _text(field: str) -> str:
    """A JSON string's value: its text between the quotes unless it holds an escape (DuckDB
    stores JSON values minified and re-serialised, so only escapes need decoding)."""
    return f"CASE WHEN contains(j.{field}, '\\') THEN j.{field} ->> '$' ELSE j.{field}[2:-2] END"


# Checks on each value's JSON text: a string starts with '"', a flag is true/false, ms_played
# is a plain integer below 2**53 (15 digits at most; 5.0 or 5e3 are left to the reference).
_CHECKS = " AND ".join([
    f"regexp_full_match(j.ts, '\"{_TS}\"')",
    "j.parsed IS NOT NULL",
    "regexp_full_match(j.ms_played, '0|[1-9][0-9]{0,14}')",
    "TRY_CAST(j.ms_played AS BIGINT) < 9007199254740992",
    *[f"(j.{f} IS NULL OR starts_with(j.{f}, '\"'))" for f in _TEXT],
    *[f"(j.{f} IS NULL OR j.{f} IN ('true', 'false'))" for f in _FLAGS]])

_RECORDS = f"""
    SELECT coalesce({_CHECKS}, false) AS ok,
           timezone('UTC', j.parsed) AS ended_at,
           j.ts[2:20] AS ended_second,
           TRY_CAST(j.ms_played AS BIGINT) AS ms,
           {", ".join(f"{_text(f)} AS {f}" for f in _TEXT)},
           j.shuffle = 'true' AS shuffle, j.skipped = 'true' AS skipped
    FROM (SELECT *, try_strptime(ts[2:-2], '%Y-%m-%dT%H:%M:%SZ') AS parsed
          FROM (SELECT {", ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in _COLUMNS)}
                FROM read_json($path, format = 'array', columns = $columns))) j"""

# The reference reader's branches, in its order ('' and null are both "missing").
_KIND = """
    CASE WHEN ms = 0 THEN 'zero_ms_played'
         WHEN spotify_track_uri <> '' AND master_metadata_track_name <> '' AND master_metadata_album_artist_name <> ''
              THEN 'extended'
         WHEN coalesce(spotify_track_uri, '') = '' AND master_metadata_track_name <> ''
              AND master_metadata_album_artist_name <> '' AND coalesce(spotify_episode_uri, '') = ''
              AND coalesce(audiobook_uri, '') = '' THEN 'local'
         WHEN spotify_episode_uri <> '' OR episode_name <> '' THEN 'episode'
         WHEN audiobook_uri <> '' OR audiobook_title <> '' THEN 'audiobook'
         ELSE 'no_metadata' END"""

_PLAYS = """
    SELECT master_metadata_album_artist_name AS artist_name, master_metadata_track_name AS track_name, ended_at, ended_second, ms,
           nullif(string_split(spotify_track_uri, ':')[-1], '') AS track_id,
           master_metadata_album_album_name AS album_name, platform, conn_country AS country, reason_start, reason_end,
           shuffle, skipped, kind AS source
    FROM rec WHERE kind IN ('extended', 'local') ORDER BY rowid"""

_EPISODES = """
    SELECT ended_at, ended_second, ms, kind,
           CASE kind WHEN 'episode' THEN spotify_episode_uri
                     ELSE CASE WHEN audiobook_chapter_uri <> '' THEN audiobook_chapter_uri ELSE audiobook_uri END END AS uri,
           CASE kind WHEN 'episode' THEN episode_name ELSE audiobook_chapter_title END AS title,
           CASE kind WHEN 'episode' THEN episode_show_name ELSE audiobook_title END AS show_name, platform
    FROM rec WHERE kind IN ('episode', 'audiobook') ORDER BY rowid"""


@dataclass
class ExtendedFile:
    plays: pa.Table  # PLAYS_SCHEMA, in record order
    episodes: pa.Table  # EPISODES_SCHEMA, in record order
    skipped: Counter[str]
    records: int


def read_extended(con: duckdb.DuckDBPyConnection, path: Path, user_id: str) -> ExtendedFile | None:
    """The file's plays and episodes, or None if the reference reader must read it (see module doc)."""
    try:
        # Insertion order is preserved (DuckDB's default), so ``rowid`` is the record's place.
        con.execute(f"CREATE OR REPLACE TEMP TABLE rec AS SELECT *, {_KIND} AS kind FROM ({_RECORDS})",
                    {"path": str(path), "columns": _COLUMNS})
        row = con.execute("SELECT count(*), coalesce(bool_and(ok), true) FROM rec").fetchone()
        if row is None or not row[1]:
            return None
        skipped = Counter({k: n for k, n in con.execute(
            "SELECT kind, count(*) FROM rec WHERE kind IN ('zero_ms_played', 'no_metadata') GROUP BY kind").fetchall()})
        plays = con.execute(_PLAYS).to_arrow_table()
        episodes = con.execute(_EPISODES).to_arrow_table()
    except (duckdb.InvalidInputException, duckdb.ConversionException):
        return None  # not parseable as we read it (bad JSON, a duplicate key, a non-object record)
    finally:
        con.execute("DROP TABLE IF EXISTS rec")
    return ExtendedFile(_plays(plays, user_id), _episodes(episodes, user_id), skipped, int(row[0]))


def _plays(t: pa.Table, user_id: str) -> pa.Table:
    n = t.num_rows
    artists, tracks = t["artist_name"], t["track_name"]
    track_id = t["track_id"]
    missing = pc.is_null(track_id)
    if pc.any(missing).as_py():  # local files, or a URI with nothing after its last ':'
        ids, names, titles = track_id.to_pylist(), artists.to_pylist(), tracks.to_pylist()
        track_id = pa.array([v if v is not None else derived_track_id(a, b) for v, a, b in zip(ids, names, titles)],
                            pa.string())
    columns = {
        "play_id": play_ids(user_id, artists, tracks, t["ended_second"]),
        "user_id": pa.array([user_id] * n, pa.string()) if n else pa.array([], pa.string()),
        "played_at": t["ended_at"], "ms_played": t["ms"], "track_id": track_id, "track_name": tracks, "artist_name": artists,
        **{name: t[name] for name in ("album_name", "platform", "country", "reason_start", "reason_end", "shuffle",
                                      "skipped", "source")},
    }
    return pa.table({name: columns[name] for name in PLAYS_SCHEMA.names}).cast(PLAYS_SCHEMA)


def _episodes(t: pa.Table, user_id: str) -> pa.Table:
    n = t.num_rows
    show, title, uri = t["show_name"], t["title"], t["uri"]
    # The reference's key: (show or "", title or uri or "").
    show_key = pc.coalesce(show, "")
    title_key = pc.if_else(pc.fill_null(pc.not_equal(title, ""), False), title,
                           pc.if_else(pc.fill_null(pc.not_equal(uri, ""), False), uri, ""))
    columns = {
        "play_id": play_ids(user_id, show_key, title_key, t["ended_second"]),
        "user_id": pa.array([user_id] * n, pa.string()), "played_at": t["ended_at"], "ms_played": t["ms"],
        "kind": t["kind"], "uri": uri, "title": title, "show_name": show, "platform": t["platform"],
        "source": pa.array(["extended"] * n, pa.string()),
    }
    return pa.table({name: columns[name] for name in EPISODES_SCHEMA.names}).cast(EPISODES_SCHEMA)
