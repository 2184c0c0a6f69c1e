"""Ingest: export files → validated plays → merged, deduped month partitions → one atomic commit.

Order matters for "bad input changes nothing": every file is read and validated first
(``read_sources`` raises before anything is written); the merge with what the lake holds runs
in memory on a private DuckDB connection (never the query pool); the lake then commits all
changed months of all tables at once (write aside, swap the manifest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from kasoku.domains.listening.formats import ParsedImport, read_sources
from kasoku.domains.listening.schema import EPISODES_SCHEMA, PLAYS_SCHEMA, SOURCE_PRIORITY
from kasoku.lake.storage import Lake

Progress = Callable[[str, int, int | None], None]  # (stage, advance, total)


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
    months_rewritten: list[str] = field(default_factory=list)
    files_written: int = 0
    bytes_written: int = 0
    rollup_tables: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)  # JSON not recognised as any export format


def _merge(con: duckdb.DuckDBPyConnection, existing: pa.Table | None, incoming: pa.Table, schema: pa.Schema,
           ranked_by_source: bool, earlier: pa.Table | None = None) -> tuple[pa.Table, int]:
    """Union of what the lake has and what came in, one row per play. Returns (merged, net new rows).

    Exact duplicates share a play_id. Across sources the same play is recognised more loosely,
    because the sources disagree on precision (see docs/listening.md):
    an account-data row (minute precision) is the play of a richer source with the same user
    and track ending in the same minute; a Web API row (``played_at`` + track length) is the play
    of an extended-history row of the same track that *started* within 5 s of its ``played_at``
    or *ended* within 5 s of it (Spotify sets ``played_at`` to the start on some clients and
    days, to the end on others).
    The richer source wins (extended > webapi > account); on a tie the lake's row stays, so a
    re-import changes no byte. ``earlier``: extended rows of the previous month — a Web API
    row's end (start + track length) can fall in this month while the play it repeats ended
    in the last one.
    """
    base = existing if existing is not None else schema.empty_table()
    con.register("old_rows", base.cast(schema))
    con.register("new_rows", incoming.cast(schema))
    con.register("earlier_rows", (earlier if earlier is not None else schema.empty_table()).cast(schema))
    cols = ", ".join(schema.names)
    if ranked_by_source:
        prio = "CASE source " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in SOURCE_PRIORITY.items()) + " ELSE 9 END"
        merged = con.execute(f"""
            WITH u AS (SELECT {cols}, {prio} AS prio, 0 AS origin FROM old_rows
                       UNION ALL SELECT {cols}, {prio} AS prio, 1 AS origin FROM new_rows),
            exact AS (SELECT * FROM u QUALIFY row_number() OVER (PARTITION BY play_id ORDER BY prio, origin) = 1),
            candidates AS (SELECT user_id, artist_name, track_name, played_at, ms_played, source, prio FROM exact
                           UNION ALL SELECT user_id, artist_name, track_name, played_at, ms_played, source, {prio}
                           FROM earlier_rows WHERE source = 'extended'),
            shadowed AS (
                SELECT DISTINCT lo.play_id FROM exact lo JOIN candidates hi
                  ON lo.user_id = hi.user_id AND hi.prio < lo.prio
                 AND lower(lo.artist_name) = lower(hi.artist_name) AND lower(lo.track_name) = lower(hi.track_name)
                 AND ((lo.source = 'account' AND date_trunc('minute', lo.played_at) = date_trunc('minute', hi.played_at))
                   OR (lo.source = 'webapi' AND hi.source = 'extended'
                       AND (abs((epoch_ms(lo.played_at) - lo.ms_played) - (epoch_ms(hi.played_at) - hi.ms_played)) <= 5000
                         OR abs((epoch_ms(lo.played_at) - lo.ms_played) - epoch_ms(hi.played_at)) <= 5000))))
            SELECT {cols} FROM exact WHERE play_id NOT IN (SELECT play_id FROM shadowed)
            ORDER BY played_at, play_id""").to_arrow_table()
    else:
        merged = con.execute(f"""
            SELECT {cols} FROM (SELECT {cols}, 0 AS origin FROM old_rows UNION ALL SELECT {cols}, 1 AS origin FROM new_rows)
            QUALIFY row_number() OVER (PARTITION BY play_id ORDER BY origin) = 1
            ORDER BY played_at, play_id""").to_arrow_table()
    for name in ("old_rows", "new_rows", "earlier_rows"):
        con.unregister(name)
    return merged.cast(schema), merged.num_rows - base.num_rows


def _split_by_month(table: pa.Table) -> dict[str, pa.Table]:
    if table.num_rows == 0:
        return {}
    import pyarrow.compute as pc

    keys = pc.strftime(table["played_at"], format="%Y-%m")
    out: dict[str, pa.Table] = {}
    for month in pc.unique(keys).to_pylist():
        out[month] = table.filter(pc.equal(keys, month))
    return out


def _changed_months(con: duckdb.DuckDBPyConnection, lake: Lake, table_name: str, incoming: pa.Table,
                    schema: pa.Schema, ranked: bool) -> tuple[dict[str, pa.Table], int]:
    """Merged content of each month the import touches, only where it differs from the lake.

    For plays, the month after each touched month is looked at again when it holds Web API rows
    that started in the touched month: the new extended rows may be the plays they repeat.
    """
    changes: dict[str, pa.Table] = {}
    new_total = 0
    by_month = _split_by_month(incoming)
    months = set(by_month)
    if ranked:
        present = set(lake.months(table_name))
        months |= {_next_month(m) for m in by_month if _next_month(m) in present}
    for month in sorted(months):
        existing = lake.read(table_name, [month])
        rows = by_month.get(month, schema.empty_table())
        earlier = _earlier_extended(lake, table_name, month, by_month, existing, rows) if ranked else None
        merged, new = _merge(con, existing, rows, schema, ranked, earlier)
        if not _same(existing, merged):
            changes[month] = merged
        new_total += new
    return changes, new_total


def _next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year + 1:04d}-01" if mon == 12 else f"{year:04d}-{mon + 1:02d}"


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _earlier_extended(lake: Lake, table_name: str, month: str, by_month: dict[str, pa.Table],
                      *tables: pa.Table | None) -> pa.Table | None:
    """Extended rows of the previous month, read only when a Web API row here started before this month."""
    import pyarrow.compute as pc

    month_start = pa.scalar(_month_start(month), pa.timestamp("us", tz="UTC"))
    straddling = False
    for table in tables:
        if table is None or table.num_rows == 0:
            continue
        web = table.filter(pc.equal(table["source"], "webapi"))
        if web.num_rows:
            starts = pc.subtract(pc.cast(web["played_at"], pa.int64()), pc.multiply(web["ms_played"], 1000))
            straddling |= pc.any(pc.less(starts, month_start.cast(pa.int64()))).as_py() or False
    if not straddling:
        return None
    previous = _previous_month(month)
    parts = [t for t in (lake.read(table_name, [previous]), by_month.get(previous)) if t is not None]
    return pa.concat_tables([t.cast(PLAYS_SCHEMA) for t in parts]) if parts else None


def _month_start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), 1, tzinfo=timezone.utc)


def _same(a: pa.Table | None, b: pa.Table) -> bool:
    return a is not None and a.num_rows == b.num_rows and a.cast(b.schema).equals(b)


def ingest(lake: Lake, paths: Sequence[Path], *, user_id: str, progress: Progress | None = None,
           rollups: Callable[[Lake, dict[str, dict[str, pa.Table | None]], set[str]], list[str]] | None = None) -> IngestSummary:
    """Import export files into the lake. Raises InputError (lake untouched) on bad input."""
    parsed: ParsedImport = read_sources(list(paths), user_id=user_id,
                                        progress=(lambda n: progress("read", n, None)) if progress else None)
    summary = IngestSummary(files=parsed.files, records=parsed.records, plays_read=parsed.plays.num_rows,
                            episodes=parsed.episodes.num_rows, artists=parsed.artists.num_rows,
                            skipped=Counter(parsed.skipped), by_format=Counter(parsed.by_format),
                            ignored_files=list(parsed.ignored_files))
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute("SET TimeZone='UTC'")
        con.execute("SET enable_progress_bar=false")
        plays_changes, summary.new_plays = _changed_months(con, lake, "plays", parsed.plays, PLAYS_SCHEMA, True)
        episode_changes, summary.new_episodes = _changed_months(con, lake, "episodes", parsed.episodes, EPISODES_SCHEMA, False)
    finally:
        con.close()
    summary.duplicates = summary.plays_read - summary.new_plays
    changes: dict[str, dict[str, pa.Table | None]] = {}
    if plays_changes:
        changes["plays"] = dict(plays_changes)
    if episode_changes:
        changes["episodes"] = dict(episode_changes)
    if parsed.artists.num_rows:
        changes.update(_artist_changes(lake, parsed.artists))
    summary.months_rewritten = sorted(plays_changes)
    if rollups is not None and (plays_changes or "artists" in changes):  # new genres re-key genre roll-ups
        summary.rollup_tables = rollups(lake, changes, set(plays_changes))
    if changes:
        commit = lake.commit(changes, progress=(lambda n: progress("write", n, None)) if progress else None)
        summary.files_written = commit.files_written
        summary.bytes_written = commit.bytes_written
    return summary


ARTISTS_PARTITION = "1970-01"  # artists are not time-partitioned: the table keeps one fixed partition


def _artist_changes(lake: Lake, artists: pa.Table) -> dict[str, dict[str, pa.Table | None]]:
    existing = lake.read("artists", [ARTISTS_PARTITION])
    combined = artists if existing is None else pa.concat_tables([artists, existing.cast(artists.schema)])
    # First occurrence wins: the newest import's artist object replaces the stored one.
    seen: set[str] = set()
    keep = []
    for i, artist_id in enumerate(combined["artist_id"].to_pylist()):
        if artist_id not in seen:
            seen.add(artist_id)
            keep.append(i)
    merged = combined.take(keep)
    if existing is not None and _same(existing, merged):
        return {}
    return {"artists": {ARTISTS_PARTITION: merged}}
