"""Ingest: export files → validated plays → one DuckLake transaction (plays, episodes, artists, roll-ups).

Order matters for "bad input changes nothing": every file is read and validated first
(``read_sources`` raises before anything is written). Then one lake transaction
(:func:`kasoku.lake.transaction.write`) reads what the lake holds around the import's
months, dedupes by play identity, deletes the rows a richer source replaces, inserts the
new rows, and rebuilds the roll-ups of the months that changed — all visible at once in one
new snapshot, or not at all. If another writer commits first, the transaction fails cleanly
and runs again on the new snapshot (bounded; ``IngestSummary.attempts`` says how many runs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.collector.gaps import ClosedGap, close_covered
from kasoku.domains.listening.formats import ARTISTS_SCHEMA, ParsedImport, read_sources
from kasoku.domains.listening.rollup_build import RollupBuilder, played_in, shift_month
from kasoku.domains.listening.schema import EPISODES_SCHEMA, PLAYS_SCHEMA, SOURCE_PRIORITY
from kasoku.domains.listening.tables import ARTISTS, EPISODES, PLAYS, ensure_tables, ref
from kasoku.lake.ducklake import ALIAS, Lake
from kasoku.lake.transaction import registered, write

Progress = Callable[[str, int, int | None], None]  # (stage, advance, total)
Also = Callable[[duckdb.DuckDBPyConnection], bool]  # more work in the import's transaction; True if it wrote


@dataclass
class IngestSummary:
    files: int = 0
    records: int = 0
    plays_read: int = 0
    new_plays: int = 0
    duplicates: int = 0
    episodes: int = 0
    new_episodes: int = 0
    artists: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_format: Counter[str] = field(default_factory=Counter)
    months_rewritten: list[str] = field(default_factory=list)  # months whose plays changed
    files_written: int = 0
    bytes_written: int = 0
    rollup_tables: list[str] = field(default_factory=list)
    artists_changed: bool = False
    snapshot: int | None = None  # the lake snapshot this ingest made; None when nothing changed
    attempts: int = 1  # transaction runs: >1 when a concurrent writer committed first
    ignored_files: list[str] = field(default_factory=list)  # JSON not recognised as any export format
    # Collector (Web API) plays recognised as export plays, by how Spotify's played_at read:
    # as the play's start (the documented meaning) or as its end (see docs/listening.md).
    matched_by_start: int = 0
    matched_by_end: int = 0
    gaps_closed: list[ClosedGap] = field(default_factory=list)  # the collector's gaps this import filled


@dataclass
class _Outcome:
    plays: _Plays
    new_episodes: int = 0
    artists_changed: bool = False
    rollup_tables: list[str] = field(default_factory=list)
    gaps_closed: list[ClosedGap] = field(default_factory=list)
    also: bool = False


def _months(table: pa.Table) -> set[str]:
    if table.num_rows == 0:
        return set()
    return set(pc.unique(pc.strftime(table["played_at"], format="%Y-%m")).to_pylist())


def _around(months: set[str]) -> set[str]:
    """The months a play of ``months`` may be matched against: a Web API row's start (end minus
    track length) can lie in the month before the one its end falls in."""
    return months | {shift_month(m, d) for m in months for d in (-1, 1)}


_PRIO = "CASE source " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in SOURCE_PRIORITY.items()) + " ELSE 9 END"
_COLS = ", ".join(PLAYS_SCHEMA.names)

# Changes of one import: rows to insert (origin 1) and lake rows to delete (origin 0).
# Exact duplicates share a play_id. Across sources the same play is recognised more loosely,
# because the sources disagree on precision (see docs/listening.md): an account-data row
# (minute precision) is the play of a richer source with the same user and track ending in the
# same minute; a Web API row (``played_at`` + track length) is the play of an extended-history
# row of the same track that *started* within 5 s of its start, or *ended* within 5 s of it
# (Spotify sets ``played_at`` to the start on some clients and days, to the end on others;
# ``_around`` reads the neighbouring months for both). The richer source wins
# (extended > webapi > account); on a tie the lake's row stays, so a re-import changes nothing.
_PLAYS_CHANGES = f"""
    WITH u AS (SELECT {_COLS}, {_PRIO} AS prio, 0 AS origin FROM {ref(PLAYS)} WHERE {{window}}
               UNION ALL SELECT {_COLS}, {_PRIO} AS prio, 1 AS origin FROM incoming_plays),
    ranked AS (SELECT *, row_number() OVER w AS rn, first_value(source) OVER w AS top_source FROM u
               WINDOW w AS (PARTITION BY play_id ORDER BY prio, origin)),
    exact AS (SELECT * FROM ranked WHERE rn = 1),
    shadowed AS (
        SELECT lo.play_id,
               CASE WHEN any_value(lo.source) <> 'webapi' THEN NULL
                    WHEN bool_or(abs((epoch_ms(lo.played_at) - lo.ms_played) - (epoch_ms(hi.played_at) - hi.ms_played)) <= 5000)
                    THEN 'start' ELSE 'end' END AS matched
        FROM (SELECT * FROM exact WHERE source <> 'extended') lo JOIN exact hi
          ON lo.user_id = hi.user_id AND hi.prio < lo.prio
         AND lower(lo.artist_name) = lower(hi.artist_name) AND lower(lo.track_name) = lower(hi.track_name)
         AND ((lo.source = 'account' AND date_trunc('minute', lo.played_at) = date_trunc('minute', hi.played_at))
           OR (lo.source = 'webapi' AND hi.source = 'extended'
               AND (abs((epoch_ms(lo.played_at) - lo.ms_played) - (epoch_ms(hi.played_at) - hi.ms_played)) <= 5000
                 OR abs((epoch_ms(lo.played_at) - lo.ms_played) - epoch_ms(hi.played_at)) <= 5000)))
        GROUP BY lo.play_id),
    kept AS (SELECT r.*, r.rn = 1 AND s.play_id IS NULL AS keep,
                    CASE WHEN r.rn = 1 THEN s.matched
                         WHEN r.source = 'webapi' AND r.top_source = 'extended' THEN 'start' END AS matched
             FROM ranked r LEFT JOIN shadowed s ON r.play_id = s.play_id)
    SELECT {_COLS}, origin, keep, matched FROM kept
    WHERE (origin = 1 AND keep) OR (origin = 0 AND NOT keep) OR matched IS NOT NULL
    ORDER BY played_at, play_id"""

# A Web API row matched "by start": Spotify's played_at was the play's start — the export row
# started within 5 s of it, or (the usual case) ended exactly where played_at + track length
# does, so both share the play_id; "by end": played_at was the play's end (the export row ended
# within 5 s of it). A row matching both ways counts as "by start" (the documented reading).


@dataclass
class _Plays:
    net_new: int = 0
    months: list[str] = field(default_factory=list)
    matched_by_start: int = 0
    matched_by_end: int = 0


def _merge_plays(con: duckdb.DuckDBPyConnection, incoming: pa.Table) -> _Plays:
    """Insert new plays, delete the lake rows they replace; net new plays, months changed, and
    how the collector's (Web API) plays met export plays."""
    if incoming.num_rows == 0:
        return _Plays()
    months = _months(incoming)
    window = played_in(_around(months))
    if _only_new_export_plays(con, incoming, window):
        with registered(con, "inserted_plays", incoming.cast(PLAYS_SCHEMA)):
            con.execute(f"INSERT INTO {ref(PLAYS)} SELECT {_COLS} FROM inserted_plays ORDER BY played_at, play_id")
        return _Plays(incoming.num_rows, sorted(months))
    with registered(con, "incoming_plays", incoming.cast(PLAYS_SCHEMA)):
        changes = con.execute(_PLAYS_CHANGES.format(window=window)).to_arrow_table()
    found: dict[str, set[str]] = {"start": set(), "end": set()}
    for play_id, how in zip(changes["play_id"].to_pylist(), changes["matched"].to_pylist(), strict=True):
        if how is not None:
            found[how].add(play_id)  # a play the lake and the import both hold counts once
    origin, keep = changes["origin"], changes["keep"]
    inserts = changes.filter(pc.and_(pc.equal(origin, 1), keep)).drop_columns(["origin", "keep", "matched"])
    deletes = changes.filter(pc.and_(pc.equal(origin, 0), pc.invert(keep))).select(["play_id", "played_at"])
    if deletes.num_rows:
        with registered(con, "deleted_plays", deletes):
            con.execute(f"DELETE FROM {ref(PLAYS)} WHERE {played_in(_months(deletes))} "
                        "AND play_id IN (SELECT play_id FROM deleted_plays)")
    if inserts.num_rows:
        with registered(con, "inserted_plays", inserts):
            con.execute(f"INSERT INTO {ref(PLAYS)} SELECT {_COLS} FROM inserted_plays")
    return _Plays(inserts.num_rows - deletes.num_rows, sorted(_months(inserts) | _months(deletes)),
                  len(found["start"]), len(found["end"] - found["start"]))


def _only_new_export_plays(con: duckdb.DuckDBPyConnection, incoming: pa.Table, window: str) -> bool:
    """True when ``_PLAYS_CHANGES`` would insert every incoming row and delete nothing: distinct
    play ids, only export sources (extended, local: nothing ranks above them, and no looser
    cross-source match applies among them), and no lake row in the months they may match (a
    first import, or a new month). The common large import then skips the dedupe query."""
    if not set(pc.unique(incoming["source"]).to_pylist()) <= {"extended", "local"}:
        return False
    if pc.count_distinct(incoming["play_id"]).as_py() != incoming.num_rows:
        return False
    row = con.execute(f"SELECT EXISTS (SELECT 1 FROM {ref(PLAYS)} WHERE {window})").fetchone()
    return bool(row is not None and not row[0])


def _merge_episodes(con: duckdb.DuckDBPyConnection, incoming: pa.Table) -> int:
    """Episodes dedupe by play_id only; the lake's row stays."""
    if incoming.num_rows == 0:
        return 0
    cols = ", ".join(EPISODES_SCHEMA.names)
    with registered(con, "incoming_episodes", incoming.cast(EPISODES_SCHEMA)):
        new = con.execute(f"""SELECT {cols} FROM incoming_episodes WHERE play_id NOT IN
                              (SELECT play_id FROM {ref(EPISODES)} WHERE {played_in(_months(incoming))})
                              ORDER BY played_at, play_id""").to_arrow_table()
    if new.num_rows:
        with registered(con, "new_episodes", new):
            con.execute(f"INSERT INTO {ref(EPISODES)} SELECT {cols} FROM new_episodes")
    return new.num_rows


def _merge_artists(con: duckdb.DuckDBPyConnection, artists: pa.Table) -> bool:
    """The import's artist objects replace stored ones with the same id (first in the import wins)."""
    if artists.num_rows == 0:
        return False
    with registered(con, "incoming_artists", artists.append_column("ord", pa.array(range(artists.num_rows), pa.int64()))):
        changed = con.execute(f"""
            SELECT a.artist_id, a.artist_name, a.genres FROM
              (SELECT * FROM incoming_artists QUALIFY row_number() OVER (PARTITION BY artist_id ORDER BY ord) = 1) a
            LEFT JOIN {ref(ARTISTS)} b USING (artist_id)
            WHERE b.artist_id IS NULL OR b.artist_name IS DISTINCT FROM a.artist_name OR b.genres IS DISTINCT FROM a.genres
            ORDER BY a.ord""").to_arrow_table()
    if changed.num_rows == 0:
        return False
    with registered(con, "changed_artists", changed):
        con.execute(f"DELETE FROM {ref(ARTISTS)} WHERE artist_id IN (SELECT artist_id FROM changed_artists)")
        con.execute(f"INSERT INTO {ref(ARTISTS)} SELECT artist_id, artist_name, genres FROM changed_artists")
    return True


def ingest(lake: Lake, paths: Sequence[Path], *, user_id: str, progress: Progress | None = None,
           rollups: RollupBuilder | None = None, attempts: int = 8, also: Also | None = None) -> IngestSummary:
    """Import export files into the lake in one transaction. Raises InputError (lake untouched) on bad input.

    ``rollups``: how roll-ups follow the plays (default: rebuilt for the changed months;
    ``RollupBuilder(drop_only=True)`` when roll-ups are switched off). ``also(con)``: more work
    in the same transaction (the collector records a gap with its poll's plays); returns
    whether it changed the lake.
    """
    parsed: ParsedImport = read_sources(list(paths), user_id=user_id,
                                        progress=(lambda n: progress("read", n, None)) if progress else None)
    summary = IngestSummary(files=parsed.files, records=parsed.records, skipped=Counter(parsed.skipped),
                            by_format=Counter(parsed.by_format), ignored_files=list(parsed.ignored_files))
    return import_tables(lake, parsed.plays, parsed.episodes, parsed.artists, summary=summary, progress=progress,
                         rollups=rollups, attempts=attempts, message=f"ingest user={user_id} files={parsed.files}",
                         also=also, source=", ".join(p.name for p in paths))


def import_tables(lake: Lake, plays: pa.Table, episodes: pa.Table | None = None, artists: pa.Table | None = None, *,
                  summary: IngestSummary | None = None, progress: Progress | None = None,
                  rollups: RollupBuilder | None = None, attempts: int = 8, message: str = "ingest",
                  also: Also | None = None, source: str = "an import") -> IngestSummary:
    """Merge already-normalised tables (PLAYS_SCHEMA, EPISODES_SCHEMA, ARTISTS_SCHEMA) into the lake:
    the transaction :func:`ingest` runs after reading the files (tests and benchmarks call it directly).

    Export plays close the collector's open gaps they cover, in the same transaction
    (``collector/gaps.py``); ``source`` names the import in the gap's ``closed_by``."""
    episodes = episodes if episodes is not None else EPISODES_SCHEMA.empty_table()
    artists = artists if artists is not None else ARTISTS_SCHEMA.empty_table()
    summary = summary or IngestSummary()
    summary.plays_read, summary.episodes, summary.artists = plays.num_rows, episodes.num_rows, artists.num_rows
    builder = rollups if rollups is not None else RollupBuilder()

    def body(con: duckdb.DuckDBPyConnection) -> tuple[_Outcome, bool]:
        created = ensure_tables(con)
        out = _Outcome(_merge_plays(con, plays))
        if progress is not None:
            progress("write", 1, None)
        out.new_episodes = _merge_episodes(con, episodes)
        out.artists_changed = _merge_artists(con, artists)
        months = out.plays.months
        if months or out.artists_changed:
            out.rollup_tables = builder(con, months, artists_changed=out.artists_changed)
        out.gaps_closed = close_covered(con, plays, by=f"import of {source}")
        out.also = bool(also(con)) if also is not None else False
        if progress is not None:
            progress("write", 1, None)
        return out, created or bool(months or out.new_episodes or out.artists_changed or out.gaps_closed or out.also)

    def added(con: duckdb.DuckDBPyConnection, snapshot: int) -> None:
        summary.files_written, summary.bytes_written = files_added(con, snapshot)

    done = write(lake, body, message=message, attempts=attempts, after=added)
    out = done.value
    summary.new_plays, summary.new_episodes = out.plays.net_new, out.new_episodes
    summary.duplicates = summary.plays_read - summary.new_plays
    summary.months_rewritten, summary.artists_changed = out.plays.months, out.artists_changed
    summary.matched_by_start, summary.matched_by_end = out.plays.matched_by_start, out.plays.matched_by_end
    summary.gaps_closed = out.gaps_closed
    summary.rollup_tables = out.rollup_tables
    summary.snapshot, summary.attempts = done.snapshot, done.attempts
    return summary


def files_added(con: duckdb.DuckDBPyConnection, snapshot: int) -> tuple[int, int]:
    """(data files, bytes) a snapshot added (inlined rows live in the catalog and add no file)."""
    row = con.execute(f"SELECT count(*), coalesce(sum(file_size_bytes), 0) FROM __ducklake_metadata_{ALIAS}.ducklake_data_file "
                      "WHERE begin_snapshot = ?", [snapshot]).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
