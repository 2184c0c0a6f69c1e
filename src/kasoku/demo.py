"""``kasoku demo``: real data through the real path, embedded defaults, no Redis or cloud.

The listening history is generated *in Spotify's export format* and imported by the real
importer into a local lake; the racing demo's JV-Data records go into the same lake (tables and
the raw records the JV-Link replay serves). A second run finds the lake ready and reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress

from kasoku.config import Settings

if TYPE_CHECKING:
    from kasoku.lake.ducklake import Lake

READY = ".ready"


def prepare_demo(data_dir: Path, *, plays: int, console: Console, progress: Callable[[], Progress],
                 settings: Settings | None = None, lake: str | None = None) -> Settings:
    """Generate and import the demo data unless it is there; ``lake`` (a directory or s3:// URL)
    overrides the default ``<data_dir>/lake``."""
    from kasoku.domains.listening.demo import write_demo_export
    from kasoku.domains.listening.domain import lake_from_settings, rollup_hook
    from kasoku.domains.listening.ingest import ingest

    data_dir = data_dir.resolve()
    export_dir, lake_dir = data_dir / "export", data_dir / "lake"
    lake_url = lake or str(lake_dir)
    settings = (settings or Settings()).with_overrides(lake=lake_url)
    marker = data_dir / READY
    if marker.exists() and marker.read_text().split("\n")[-1] == lake_url and _has_plays(lake_from_settings(settings)):
        _racing_lake(lake_from_settings(settings), console)
        console.print(f"demo data ready in {data_dir} (delete it to rebuild)")
        return settings
    data_dir.mkdir(parents=True, exist_ok=True)
    with progress() as bar:
        task = bar.add_task("writing demo export (Spotify format)", total=plays)
        files = write_demo_export(export_dir, plays=plays, progress=lambda n: bar.advance(task, n))
        read_task = bar.add_task("importing through the real importer", total=None)

        def on_progress(stage: str, advance: int, total: int | None) -> None:
            bar.advance(read_task, advance)

        summary = ingest(lake_from_settings(settings), files, user_id=settings.user_id, progress=on_progress,
                         rollups=rollup_hook(settings))
    console.print(f"imported {summary.new_plays:,} plays ({summary.duplicates:,} duplicates across overlapping "
                  f"sources, {summary.episodes:,} podcast plays kept apart) into {lake_url}")
    _racing_lake(lake_from_settings(settings), console)
    marker.write_text(f"{summary.new_plays}\n{lake_url}")
    return settings


def _racing_lake(lake: "Lake", console: Console) -> None:
    """The racing demo days as lake tables (``/api/v1/tables``) and raw records (the
    ``/api/v1/data`` replay), unless the lake has them."""
    from kasoku.domains.racing.demo import import_demo_lake
    from kasoku.lake.ducklake import ALIAS

    con = lake.connect(read_only=True)
    try:
        present = con.execute(f"SELECT count(*) FROM ducklake_table_info('{ALIAS}') WHERE table_name = 'se'").fetchone()
    finally:
        con.close()
    if present and present[0]:
        return
    summary = import_demo_lake(lake)
    console.print(f"imported the racing demo into the lake: {summary.inserted:,} rows in "
                  f"{len(summary.by_table)} tables (/api/v1/tables), {summary.raw_added:,} raw records (/api/v1/data)")


def _has_plays(lake: "Lake") -> bool:
    """A lake of the current format with plays in it (an old-format lake is rebuilt by re-importing)."""
    from kasoku.domains.listening.tables import PLAYS, ref
    from kasoku.lake.ducklake import current_snapshot

    try:
        con = lake.connect(read_only=True)
    except Exception:  # no catalog yet, or not a DuckLake catalog
        return False
    try:
        if not current_snapshot(con):
            return False
        row = con.execute(f"SELECT EXISTS (SELECT 1 FROM {ref(PLAYS)})").fetchone()
        return bool(row and row[0])
    except Exception:
        return False
    finally:
        con.close()
