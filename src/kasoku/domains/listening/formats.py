"""Every Spotify export format in, one normalised plays table out.

Formats are told apart by their content, not their file names:

- extended history (``Streaming_History_Audio_*.json``, ``endsong_*.json``): a JSON array of
  objects with ``ts`` (UTC, when the stream stopped) and ``ms_played``;
- account-data history (``StreamingHistory_music_N.json``, ``StreamingHistoryN.json``):
  ``endTime`` at minute precision, ``artistName``, ``trackName``, ``msPlayed``;
  (``StreamingHistory_podcast_N.json`` has ``podcastName``/``episodeName`` → episodes);
- saved Web API recently-played responses (``{"items": [{"track", "played_at"}]}``):
  ``played_at`` is when the play *started*; the end is start + ``duration_ms`` and
  ``ms_played`` is the track length — the only figure the Web API gives (documented);
- saved Web API artist objects (``{"artists": [...]}``, a search page, or one artist)
  → the ``artists`` table with ``genres``.

A directory is walked; a ``.zip`` is read member by member in memory. Anything malformed
raises :class:`InputError` naming the file (``export.zip!member.json``) and record index,
before the caller writes anything.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.extended_columns import ExtendedFile, looks_extended, read_extended
from kasoku.domains.listening.schema import (EPISODES_SCHEMA, PLAYS_SCHEMA, SOURCE_PRIORITY, derived_track_id, play_id,
                                             track_key)
from kasoku.errors import InputError

ARTISTS_SCHEMA = pa.schema([pa.field("artist_id", pa.string(), nullable=False), pa.field("artist_name", pa.string(), nullable=False),
                            pa.field("genres", pa.list_(pa.string()))])


@dataclass
class ParsedImport:
    plays: pa.Table
    episodes: pa.Table
    artists: pa.Table
    files: int = 0
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_format: Counter[str] = field(default_factory=Counter)
    months: set[str] = field(default_factory=set)
    ignored_files: list[str] = field(default_factory=list)


class _Columns:
    """Column lists built row by row (fast, no pydantic), moved into Arrow after every file:
    Python objects exist for one file's records at a time, Arrow holds the rest compactly."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.cols: dict[str, list[Any]] = {name: [] for name in schema.names}
        self.chunks: list[pa.Table] = []

    def add(self, **row: Any) -> None:
        for name, values in self.cols.items():
            values.append(row.get(name))

    def append(self, table: pa.Table) -> None:
        """Rows already in Arrow (after the rows added so far)."""
        self.flush()
        if table.num_rows:
            self.chunks.append(table)

    def flush(self) -> None:
        if self.cols[self.schema.names[0]]:
            self.chunks.append(pa.table(self.cols, schema=self.schema))
            self.cols = {name: [] for name in self.schema.names}

    def table(self) -> pa.Table:
        self.flush()
        return pa.concat_tables(self.chunks) if self.chunks else self.schema.empty_table()


def _files(paths: Sequence[Path]) -> Iterator[tuple[str, bytes, Path | None]]:
    """(display name, bytes, the file on disk or None for a zip member) of every JSON document
    under the given paths (zip members too)."""
    for path in paths:
        if path.is_dir():
            yield from _files(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".zip")))
        elif path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    for member in sorted(archive.namelist()):
                        if member.lower().endswith(".json") and not member.startswith("__MACOSX"):
                            yield f"{path}!{member}", archive.read(member), None
            except zipfile.BadZipFile as exc:
                raise InputError(f"not a readable zip archive ({exc})", path=str(path)) from None
        elif path.is_file():
            yield str(path), path.read_bytes(), path
        else:
            raise InputError("no such file or directory", path=str(path))


def _load_json(name: str, raw: bytes) -> Any:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and raw[1:2] == b"\x00"):
        raise InputError("not UTF-8 JSON (looks like UTF-16); re-save the file as UTF-8", path=name)
    try:
        return orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("not UTF-8 JSON (bytes that are not UTF-8)", path=name) from None
        raise InputError(f"not valid JSON: {exc}", path=name) from None


def _kind(doc: Any) -> str | None:
    if isinstance(doc, list):
        first = next((x for x in doc if isinstance(x, dict)), None)
        if first is None:
            return "empty" if not doc else None
        if "ts" in first and "ms_played" in first:
            return "extended"
        if "endTime" in first and ("podcastName" in first or "episodeName" in first):
            return "account_podcast"
        if "endTime" in first and "msPlayed" in first:
            return "account"
        return None
    if isinstance(doc, dict):
        if isinstance(doc.get("items"), list) and (not doc["items"] or (isinstance(doc["items"][0], dict)
                                                                          and "played_at" in doc["items"][0])):
            return "webapi"
        if isinstance(doc.get("artists"), list) or isinstance(doc.get("artists"), dict):
            return "artists"
        if doc.get("type") == "artist" and "genres" in doc:
            return "artists"
    return None


def _ts(value: Any, name: str, index: int, what: str) -> datetime:
    if not isinstance(value, str):
        raise InputError(f"{what} must be a timestamp string, got {value!r}", path=name, record=index)
    try:
        text = value.replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text) if "T" in text or "+" in text else datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        raise InputError(f"{what} is not a timestamp: {value!r}", path=name, record=index) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _int(value: Any, name: str, index: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 2**53:
        raise InputError(f"{what} must be a non-negative number, got {value!r}", path=name, record=index)
    return int(value)


_EXTENDED_TEXT = ("platform", "conn_country", "master_metadata_track_name", "master_metadata_album_artist_name",
                  "master_metadata_album_album_name", "spotify_track_uri", "episode_name", "episode_show_name",
                  "spotify_episode_uri", "audiobook_title", "audiobook_uri", "audiobook_chapter_uri",
                  "audiobook_chapter_title", "reason_start", "reason_end")
_EXTENDED_FLAGS = ("shuffle", "skipped", "offline", "incognito_mode")


def _check_fields(rec: dict[str, Any], name: str, index: int, text: Sequence[str], flags: Sequence[str] = ()) -> None:
    """Fields we store must have the type the export format gives them (or be null)."""
    for field_name in text:
        value = rec.get(field_name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{field_name} must be a string, got {value!r}", path=name, record=index)
    for field_name in flags:
        value = rec.get(field_name)
        if value is not None and not isinstance(value, bool):
            raise InputError(f"{field_name} must be true, false or null, got {value!r}", path=name, record=index)


class _Reader:
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.plays = _Columns(PLAYS_SCHEMA)
        self.episodes = _Columns(EPISODES_SCHEMA)
        self.artists = _Columns(ARTISTS_SCHEMA)
        self.skipped: Counter[str] = Counter()

    def _play(self, *, at: datetime, ms: int, artist: str, track: str, track_id: str | None, source: str,
              occurrence: int = 0, **extra: Any) -> None:
        self.plays.add(play_id=play_id(self.user_id, artist, track, at, occurrence), user_id=self.user_id, played_at=at, ms_played=ms,
                       track_id=track_id or derived_track_id(artist, track), track_name=track, artist_name=artist,
                       source=source, **extra)

    def extended(self, doc: list[Any], name: str) -> None:
        for i, rec in enumerate(doc):
            if not isinstance(rec, dict):
                raise InputError("record is not a JSON object", path=name, record=i)
            at = _ts(rec.get("ts"), name, i, "ts")
            ms = _int(rec.get("ms_played"), name, i, "ms_played")
            _check_fields(rec, name, i, _EXTENDED_TEXT, _EXTENDED_FLAGS)
            uri, track, artist = rec.get("spotify_track_uri"), rec.get("master_metadata_track_name"), rec.get("master_metadata_album_artist_name")
            if ms == 0:
                self.skipped["zero_ms_played"] += 1  # nothing was heard: not a play
            elif uri and track and artist:
                self._play(at=at, ms=ms, artist=artist, track=track, track_id=str(uri).rsplit(":", 1)[-1], source="extended",
                           album_name=rec.get("master_metadata_album_album_name"), platform=rec.get("platform"),
                           country=rec.get("conn_country"), reason_start=rec.get("reason_start"), reason_end=rec.get("reason_end"),
                           shuffle=rec.get("shuffle"), skipped=bool(rec["skipped"]) if rec.get("skipped") is not None else None)
            elif not uri and track and artist and not rec.get("spotify_episode_uri") and not rec.get("audiobook_uri"):
                # A local file: names but no URI. A play of its own kind, with the stable name id.
                self._play(at=at, ms=ms, artist=artist, track=track, track_id=None, source="local",
                           album_name=rec.get("master_metadata_album_album_name"), platform=rec.get("platform"),
                           country=rec.get("conn_country"), reason_start=rec.get("reason_start"), reason_end=rec.get("reason_end"),
                           shuffle=rec.get("shuffle"), skipped=bool(rec["skipped"]) if rec.get("skipped") is not None else None)
            elif rec.get("spotify_episode_uri") or rec.get("episode_name"):
                self._episode(at, ms, "episode", rec.get("spotify_episode_uri"), rec.get("episode_name"), rec.get("episode_show_name"),
                              rec.get("platform"), "extended")
            elif rec.get("audiobook_uri") or rec.get("audiobook_title"):
                self._episode(at, ms, "audiobook", rec.get("audiobook_chapter_uri") or rec.get("audiobook_uri"),
                              rec.get("audiobook_chapter_title"), rec.get("audiobook_title"), rec.get("platform"), "extended")
            else:
                self.skipped["no_metadata"] += 1

    def _episode(self, at: datetime, ms: int, kind: str, uri: str | None, title: str | None, show: str | None,
                 platform: str | None, source: str) -> None:
        self.episodes.add(play_id=play_id(self.user_id, show or "", title or uri or "", at), user_id=self.user_id, played_at=at,
                          ms_played=ms, kind=kind, uri=uri, title=title, show_name=show, platform=platform, source=source)

    def account(self, doc: list[Any], name: str, podcast: bool) -> None:
        seen: Counter[tuple[str, datetime]] = Counter()  # plays of a track ending in one minute, in this file
        for i, rec in enumerate(doc):
            if not isinstance(rec, dict):
                raise InputError("record is not a JSON object", path=name, record=i)
            at = _ts(rec.get("endTime"), name, i, "endTime")
            ms = _int(rec.get("msPlayed"), name, i, "msPlayed")
            _check_fields(rec, name, i, ("artistName", "trackName", "podcastName", "episodeName"))
            if podcast:
                self._episode(at, ms, "episode", None, rec.get("episodeName"), rec.get("podcastName"), None, "account")
                continue
            artist, track = rec.get("artistName"), rec.get("trackName")
            if not isinstance(artist, str) or not isinstance(track, str) or not artist or not track:
                raise InputError("artistName and trackName must be non-empty strings", path=name, record=i)
            occurrence = seen[(track_key(artist, track), at)]
            seen[(track_key(artist, track), at)] += 1
            self._play(at=at, ms=ms, artist=artist, track=track, track_id=None, source="account", occurrence=occurrence)

    def webapi(self, doc: dict[str, Any], name: str) -> None:
        for i, item in enumerate(doc["items"]):
            track = item.get("track") if isinstance(item, dict) else None
            if not isinstance(track, dict) or not track.get("name"):
                raise InputError("item has no track object", path=name, record=i)
            _check_fields(track, name, i, ("name", "id", "type"))
            if track.get("album") is not None and not isinstance(track["album"], dict):
                raise InputError(f"track.album must be an object, got {track['album']!r}", path=name, record=i)
            if track.get("type", "track") == "episode":
                self.skipped["webapi_episode"] += 1
                continue
            start = _ts(item.get("played_at"), name, i, "played_at")
            duration = _int(track.get("duration_ms"), name, i, "track.duration_ms")
            artists = track.get("artists") or []
            if not isinstance(artists, list) or not artists or not isinstance(artists[0], dict) \
                    or not isinstance(artists[0].get("name"), str) or not artists[0]["name"]:
                raise InputError("track has no artists", path=name, record=i)
            at = (start + timedelta(milliseconds=duration)).replace(microsecond=0)
            self._play(at=at, ms=duration, artist=artists[0]["name"], track=track["name"], track_id=track.get("id"),
                       source="webapi", album_name=(track.get("album") or {}).get("name"))

    def artist_objects(self, doc: dict[str, Any], name: str) -> None:
        items = doc.get("artists", doc)
        if isinstance(items, dict):
            items = items.get("items", [items] if "id" in items else [])
        if isinstance(doc, dict) and doc.get("type") == "artist":
            items = [doc]
        for i, artist in enumerate(items):
            if not isinstance(artist, dict) or not isinstance(artist.get("id"), str) or not isinstance(artist.get("name"), str):
                raise InputError("artist object needs id and name strings", path=name, record=i)
            genres = artist.get("genres") or []
            if not isinstance(genres, list):
                raise InputError(f"genres must be a list, got {genres!r}", path=name, record=i)
            self.artists.add(artist_id=artist["id"], artist_name=artist["name"], genres=[str(g) for g in genres])


def read_sources(paths: Sequence[Path], *, user_id: str, progress: Callable[[int], None] | None = None,
                 columnar: bool = True) -> ParsedImport:
    """Read and validate every file; dedupe within the import (the richer source wins).

    Well-formed extended-history files are read columnar by DuckDB (``extended_columns.py``);
    every other file, and any extended file that reader declines, row by row here.
    ``columnar=False`` reads everything row by row (the reference; tests compare the two).
    """
    reader = _Reader(user_id)
    by_format: Counter[str] = Counter()
    files, records, ignored = 0, 0, []
    with _ColumnReader(user_id) as fast:
        for name, raw, on_disk in _files(paths):
            columns = fast.read(raw, on_disk) if columnar and looks_extended(raw) else None
            if columns is not None:
                kind, n = "extended", columns.records
                reader.skipped.update(columns.skipped)
                reader.plays.append(columns.plays)
                reader.episodes.append(columns.episodes)
            else:
                doc = _load_json(name, raw)
                kind = _kind(doc)
                if kind is None:
                    if Path(name.split("!")[-1]).name.lower().startswith(("streaming_history", "endsong", "streaminghistory")):
                        raise InputError("not a Spotify streaming-history file: unexpected JSON shape", path=name)
                    ignored.append(name)
                    continue
                n = len(doc) if isinstance(doc, list) else len(doc.get("items", doc.get("artists", [])) or [])
                if kind == "extended":
                    reader.extended(doc, name)
                elif kind in ("account", "account_podcast"):
                    reader.account(doc, name, podcast=kind == "account_podcast")
                elif kind == "webapi":
                    reader.webapi(doc, name)
                elif kind == "artists":
                    reader.artist_objects(doc, name)
                del doc
            files += 1
            by_format[kind] += 1
            records += n
            for table in (reader.plays, reader.episodes, reader.artists):
                table.flush()
            if progress is not None:
                progress(n)
    plays, dropped = _dedupe(reader.plays.table())
    reader.skipped["duplicate_in_import"] += dropped
    episodes, _ = _dedupe(reader.episodes.table())
    months = set(pc.unique(pc.strftime(plays["played_at"], format="%Y-%m")).to_pylist()) if plays.num_rows else set()
    return ParsedImport(plays=plays, episodes=episodes, artists=reader.artists.table(), files=files, records=records,
                        skipped=+reader.skipped, by_format=by_format, months=months, ignored_files=ignored)


class _ColumnReader:
    """One DuckDB connection for the columnar reads of an import; zip members go through a temp file."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.con: duckdb.DuckDBPyConnection | None = None
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> _ColumnReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.con is not None:
            self.con.close()
        if self.tmp is not None:
            self.tmp.cleanup()

    def read(self, raw: bytes, on_disk: Path | None) -> ExtendedFile | None:
        if self.con is None:
            self.con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
            self.con.execute("SET TimeZone = 'UTC'")
        if on_disk is None:
            if self.tmp is None:
                self.tmp = tempfile.TemporaryDirectory(prefix="kasoku-import-")
            on_disk = Path(self.tmp.name) / "member.json"
            on_disk.write_bytes(raw)
        return read_extended(self.con, on_disk, self.user_id)


def _dedupe(table: pa.Table) -> tuple[pa.Table, int]:
    """One row per play_id; best SOURCE_PRIORITY wins, then the first seen (columnar, no Python rows)."""
    if table.num_rows == 0:
        return table, 0
    prio = "CASE source " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in SOURCE_PRIORITY.items()) + " ELSE 9 END"
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.register("rows_in", table.append_column("ord_", pa.array(range(table.num_rows), pa.int64())))
        keep = con.execute(f"""SELECT ord_ FROM rows_in
                               QUALIFY row_number() OVER (PARTITION BY play_id ORDER BY {prio}, ord_) = 1
                               ORDER BY ord_""").to_arrow_table()["ord_"]
    finally:
        con.close()
    return table.take(keep), table.num_rows - len(keep)
