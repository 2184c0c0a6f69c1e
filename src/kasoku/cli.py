"""``kasoku``: serve | ingest | demo | invalidate | rollup | bench | racing. Thin: it parses,
calls the library and prints; errors become one clear line and a non-zero exit."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kasoku.config import Settings
from kasoku.errors import KasokuError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="kasoku: fast answers over slow data.")
ingest_app = typer.Typer(no_args_is_help=True, help="Import data into the lake.")
app.add_typer(ingest_app, name="ingest")
rollup_app = typer.Typer(no_args_is_help=True, help="Pre-aggregated roll-ups of the listening lake.")
app.add_typer(rollup_app, name="rollup")
lake_app = typer.Typer(no_args_is_help=True, help="The DuckLake lake: status, vacuum, compaction.")
app.add_typer(lake_app, name="lake")
racing_app = typer.Typer(no_args_is_help=True, help="JRA-VAN racing data: JV-Data imports into the lake.")
app.add_typer(racing_app, name="racing")
keys_app = typer.Typer(no_args_is_help=True, help="API keys: once one exists, every data route needs a key.")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
T = TypeVar("T")

LakeOpt = Annotated[str | None, typer.Option("--lake", help="lake directory or s3://bucket/prefix (env KASOKU_LAKE)")]
StateOpt = Annotated[Path | None, typer.Option("--state", help="state directory for keys and secrets (env KASOKU_STATE)")]


def _version(value: bool) -> None:
    if value:
        from kasoku import __version__

        print(f"kasoku {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False) -> None:
    """kasoku: fast answers over slow data."""


def settings_from(**overrides: Any) -> Settings:
    from kasoku.config import config_file

    try:
        return Settings().with_overrides(**overrides)
    except KasokuError as exc:  # a kasoku.toml that does not parse: the message names it
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None
    except Exception as exc:  # pydantic's message already names the setting
        where = config_file()
        console.print(f"[red]error:[/] invalid settings{f' (from KASOKU_* and {where})' if where else ''}: {exc}")
        raise typer.Exit(2) from None


def run_clean(fn: Callable[[], T]) -> T:
    """Run a command body; a KasokuError is one red line and exit 1, never a traceback."""
    try:
        return fn()
    except KasokuError as exc:
        console.print(f"[red]error:[/] {exc.message}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    except (OSError, duckdb.IOException, duckdb.HTTPException) as exc:
        # storage unreachable (S3 down, a disk gone; DuckDB's own I/O errors): one line, not a traceback
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        console.print(f"[red]error:[/] storage unreachable: {first[:300]}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None


def progress_bar() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="bind address")] = None,
          port: Annotated[int | None, typer.Option(help="port")] = None,
          lake: LakeOpt = None,
          redis_url: Annotated[str | None, typer.Option("--redis-url", help="Redis URL for the shared tier")] = None,
          workers: Annotated[int, typer.Option(help="server worker processes", min=1)] = 1,
          state: StateOpt = None,
          create: Annotated[bool, typer.Option("--create", help="start an empty lake if none is there")] = False,
          allow_anonymous: Annotated[bool, typer.Option("--allow-anonymous", help="serve a non-loopback address "
                                                        "without API keys (anyone reaching the port reads everything)")] = False,
          collect: Annotated[bool, typer.Option("--collect", help="also run the Spotify collector's scheduler (one leader across workers)")] = False,
          watch: Annotated[Path | None, typer.Option("--watch", help="import export files dropped into this folder (done/, failed/)")] = None) -> None:
    """Run the HTTP server."""
    settings = settings_from(host=host, port=port, lake=lake, redis_url=redis_url,
                             state=state, allow_anonymous=allow_anonymous or None, collect=collect or None, import_dir=watch)
    run_clean(lambda: check_serve(settings, create=create))
    run_server(settings, workers=workers)


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_serve(settings: Settings, *, create: bool) -> None:
    """Refuse what a newcomer would not mean: a lake path that is not there (a typo serves an
    empty lake), an open port with no keys."""
    from urllib.parse import urlparse

    from kasoku.keys import KeyStore
    from kasoku.lake.catalog import parse_catalog

    parsed = urlparse(settings.lake)
    if settings.lake_catalog is not None and parse_catalog(settings.lake_catalog).kind == "postgres":
        from kasoku.domains.listening.domain import lake_from_settings

        target = lake_from_settings(settings)
        if not create and not target.exists():  # a typo in the catalog would serve an empty lake
            raise KasokuError(f"no lake in the catalog {target.catalog_display}: check KASOKU_CATALOG, "
                              "or pass --create to start an empty one")
    elif parsed.scheme in ("", "file"):
        local = Path(parsed.path if parsed.scheme == "file" else settings.lake).expanduser()
        if not local.is_dir() and not create:
            raise KasokuError(f"no lake at {local.resolve()}: check --lake / KASOKU_LAKE, "
                              "or pass --create to start an empty one")
    keys = KeyStore.for_lake(settings.state, settings.lake)
    if settings.host not in LOOPBACK and not keys.enabled and not settings.allow_anonymous:
        raise KasokuError(f"refusing to serve {settings.host} without API keys: anyone reaching the port would read "
                          "every user's data. Create one (kasoku keys create --user ID), or pass --allow-anonymous")


def print_banner(settings: Settings) -> None:
    from kasoku.keys import KeyStore

    keys = KeyStore.for_lake(settings.state, settings.lake)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    auth = (f"on ({len(keys.keys())} API keys)" if keys.enabled
            else "off (no API keys: anyone reaching the port reads everything)")
    zone = getattr(settings, "zone", None) or "UTC"
    lines = [f"kasoku serving on http://{host}:{settings.port}  (docs: /docs, health: /health/ready)",
             f"  lake    {settings.lake}", f"  zone    {zone}",
             f"  redis   {settings.redis_url or 'off (memory cache only)'}", f"  auth    {auth}",
             f"  admin   {'on' if settings.admin_token or any(k.scope == 'admin' for k in keys.keys()) else 'off'}"]
    lines.insert(2, f"  racing  {'JV-Link (COM)' if settings.racing.client == 'com' else 'the lake (kasoku racing import)'}")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def run_server(settings: Settings, *, workers: int = 1) -> None:
    import os

    import uvicorn

    from kasoku.api.connection import protocol

    # Workers are separate processes: they rebuild settings from the environment.
    for name, value in (("KASOKU_LAKE", settings.lake), ("KASOKU_RACING__CLIENT", settings.racing.client),
                        ("KASOKU_REDIS_URL", settings.redis_url), ("KASOKU_STATE", str(settings.state)),
                        ("KASOKU_HOST", settings.host), ("KASOKU_ALLOW_ANONYMOUS", "true" if settings.allow_anonymous else None),
                        ("KASOKU_COLLECT", "true" if settings.collect else None),
                        ("KASOKU_IMPORT_DIR", str(settings.import_dir) if settings.import_dir else None)):
        if value:
            os.environ[name] = value
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Every server runs the scheduler (nightly maintenance); APScheduler logs each run of the
    # leader heartbeat at INFO. Its warnings and errors still show; the jobs log their own outcome.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    limits = settings.limits
    # The protocol bounds what uvicorn leaves open: time to a request head, header bytes with
    # httptools (api/connection.py).
    server = {"host": settings.host, "port": settings.port, "log_level": "warning",
              "timeout_keep_alive": limits.keep_alive_timeout, "limit_concurrency": limits.max_connections,
              "h11_max_incomplete_event_size": limits.max_header_bytes,
              "http": protocol(header_timeout=limits.header_timeout, max_header_bytes=limits.max_header_bytes,
                               body_timeout=limits.body_timeout)}
    if workers > 1:
        print_banner(settings)
        uvicorn.run("kasoku.service:build_app", factory=True, workers=workers, **server)  # type: ignore[arg-type]
    else:
        from kasoku.service import build_app

        app = run_clean(lambda: build_app(settings))
        print_banner(settings)
        uvicorn.run(app, **server)  # type: ignore[arg-type]


@ingest_app.command("listening")
def ingest_listening(paths: Annotated[list[Path], typer.Argument(help="export files, directories or the export .zip")],
                     user: Annotated[str | None, typer.Option("--user", help="user id (default: settings user_id)")] = None,
                     lake: LakeOpt = None,
                     notify: Annotated[str | None, typer.Option(help="optional: a running server sees the ingest by "
                                   "itself within version_poll_interval; this server URL drops the months at once "
                                   "(needs the admin token)")] = None) -> None:
    """Import a Spotify export (any format) into the lake, atomically and idempotently.

    Running servers need no notice: each worker follows the lake's version and drops what changed.
    """
    settings = settings_from(lake=lake)
    summary = run_clean(lambda: do_ingest(settings, paths, user or settings.user_id))
    if not summary.files:
        ignored = summary.ignored_files
        listed = "".join(f"\n  {name}" for name in ignored[:20]) + ("\n  ..." if len(ignored) > 20 else "")
        console.print(f"[red]error:[/] nothing imported: no Spotify export file among {', '.join(map(str, paths))}"
                      + (f"; not recognised:{listed}" if ignored else " (no .json or .zip files found)"), highlight=False)
        raise typer.Exit(1)
    print_summary(summary, settings.lake)
    for closed in summary.gaps_closed:  # closed in the import's own transaction
        Console().print(closed.line())
    if notify:
        if summary.months_rewritten:
            tags = [f"month:{m}" for m in summary.months_rewritten] + ["listening:open-range"]
            try:
                notify_server(notify, settings.admin_token, tags)
            except KasokuError as exc:  # the data is written and servers will see it anyway
                console.print(f"[yellow]warning:[/] {exc.message} (servers see the ingest within "
                              f"{settings.version_poll_interval:g} s without it)")
        else:
            console.print("nothing changed: no invalidation needed")


def do_ingest(settings: Settings, paths: list[Path], user_id: str) -> Any:
    from kasoku.domains.listening.domain import lake_from_settings, rollup_hook
    from kasoku.domains.listening.ingest import ingest

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise KasokuError(f"no such file or directory: {', '.join(missing)}")
    lake = lake_from_settings(settings)
    with progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, advance: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task({"read": "reading records", "write": "writing partitions"}.get(stage, stage), total=total)
            bar.advance(tasks[stage], advance)

        return ingest(lake, paths, user_id=user_id, progress=progress, rollups=rollup_hook(settings))


def print_summary(summary: Any, lake: str) -> None:
    table = Table(title=f"ingest summary (lake {lake})", show_header=False)
    skipped = dict(summary.skipped)
    # One figure for one idea: a play already in the lake and a play twice in the import are both duplicates.
    duplicates = summary.duplicates + skipped.pop("duplicate_in_import", 0)
    for label, value in [("files imported", summary.files), ("records read", summary.records),
                         ("new plays", summary.new_plays),
                         ("duplicates (already in the lake or repeated in the import)", duplicates),
                         ("podcast/audiobook plays (kept apart)", summary.episodes),
                         ("artists with genres", summary.artists),
                         ("months rewritten", ", ".join(summary.months_rewritten) or "none"),
                         ("files written", summary.files_written), ("bytes written", f"{summary.bytes_written:,}"),
                         ("lake snapshot", summary.snapshot if summary.snapshot is not None else "unchanged"),
                         ("commit attempts", summary.attempts)]:
        table.add_row(label, str(value))
    if summary.matched_by_start or summary.matched_by_end:
        table.add_row("matched collector plays", f"{summary.matched_by_end} by end time, "
                      f"{summary.matched_by_start} by start time (Spotify's played_at read as the play's end / start)")
    if summary.gaps_closed:
        table.add_row("collector gaps closed", str(len(summary.gaps_closed)))
    for reason, count in sorted(skipped.items()):
        table.add_row(f"skipped: {reason.replace('_', ' ')}", str(count))
    for name in getattr(summary, "ignored_files", [])[:20]:
        table.add_row("not recognised (ignored)", str(name))
    Console().print(table)


def notify_server(url: str, token: str | None, tags: list[str]) -> None:
    """POST /admin/invalidate on a running server: the given tags, or everything when none."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = {"tags": tags} if tags else {"everything": True}
    try:
        response = httpx.post(url.rstrip("/") + "/admin/invalidate", json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise KasokuError(f"could not notify {url}: {exc}") from None
    if response.status_code >= 400:
        raise KasokuError(f"notify {url} answered {response.status_code}: {response.text[:200]}")
    console.print(f"notified {url}: {response.json().get('invalidated')}")


@rollup_app.command("rebuild")
def rollup_rebuild(from_month: Annotated[str | None, typer.Option("--from", help="first month YYYY-MM (default: first in the lake)")] = None,
                   to_month: Annotated[str | None, typer.Option("--to", help="last month YYYY-MM (default: last in the lake)")] = None,
                   lake: LakeOpt = None) -> None:
    """Re-aggregate past data: rebuild the roll-ups of a range of months in one atomic commit."""
    settings = settings_from(lake=lake)
    tables, snapshot, months = run_clean(lambda: do_rollup_rebuild(settings, from_month, to_month))
    Console().print(f"rebuilt {len(months)} month(s) {months[0] + ' .. ' + months[-1] if months else ''}: "
                    f"{', '.join(tables) or 'nothing to do'} (lake snapshot {snapshot})")


def _check_month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise KasokuError(f"month must be YYYY-MM, got {value!r}")
    return value


def do_rollup_rebuild(settings: Settings, from_month: str | None,
                      to_month: str | None) -> tuple[list[str], int | None, list[str]]:
    from kasoku.domains.listening.domain import lake_from_settings, prepare_lake
    from kasoku.domains.listening.rollup_build import rebuild
    from kasoku.domains.listening.tables import PLAYS, months_of

    for value in (from_month, to_month):
        if value is not None:
            _check_month(value)
    if from_month and to_month and from_month > to_month:
        raise KasokuError(f"--from {from_month} is after --to {to_month}")
    lake = lake_from_settings(settings)
    prepare_lake(lake)
    con = lake.connect(read_only=True)
    try:
        months = [m for m in months_of(con, PLAYS) if (from_month or "0000-00") <= m <= (to_month or "9999-99")]
    finally:
        con.close()
    with progress_bar() as bar:
        task = bar.add_task("re-aggregating months", total=len(months))
        tables, snapshot = rebuild(lake, months, progress=lambda _m: bar.advance(task, 1))
    return tables, snapshot, months


@rollup_app.command("status")
def rollup_status_cmd(lake: LakeOpt = None) -> None:
    """Show which roll-ups exist, their size, and whether they agree with the plays."""
    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.domains.listening.rollup_status import rollup_status

    settings = settings_from(lake=lake)
    status = run_clean(lambda: rollup_status(lake_from_settings(settings)))
    table = Table(title=f"roll-ups (lake snapshot {status.snapshot})")
    for column in ("table", "months", "span", "files", "rows", "bytes", "missing months"):
        table.add_column(column, justify="right" if column in ("months", "files", "rows", "bytes") else "left")
    for t in [status.plays, *status.tables]:
        missing = status.missing.get(t.table, [])
        table.add_row(t.table, str(len(t.months)), t.span, str(t.files), f"{t.rows:,}", f"{t.bytes:,}",
                      ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
    Console().print(table)
    if status.fresh:
        Console().print("fresh: every plays month has its roll-ups and the counts agree")
    else:
        Console().print(f"NOT fresh: stale months {', '.join(status.stale) or 'none'}; "
                        "run `kasoku rollup rebuild` to fix")


@lake_app.command("status")
def lake_status_cmd(lake: LakeOpt = None) -> None:
    """Snapshots, tables, files, bytes and the last ingest of the lake."""
    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.lake.maintenance import status

    settings = settings_from(lake=lake)
    st = run_clean(lambda: status(lake_from_settings(settings)))
    out = Console()
    out.print(f"lake {st.url}  catalog {st.catalog}")
    out.print(f"snapshot {st.snapshot} ({st.snapshots} kept), {st.files} files, {st.bytes:,} bytes")
    last = st.last_ingest
    out.print(f"last ingest: snapshot {last['snapshot']} at {last['at']} ({last['message']})" if last else "last ingest: never")
    table = Table()
    for column in ("table", "rows", "files", "delete files", "bytes"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for t in st.tables:
        table.add_row(t.name, f"{t.rows:,}", str(t.files), str(t.delete_files), f"{t.bytes:,}")
    out.print(table)


@lake_app.command("vacuum")
def lake_vacuum_cmd(lake: LakeOpt = None,
                    retention_hours: Annotated[float | None, typer.Option("--retention-hours", help="keep snapshots this young (default: setting lake_retention_hours)")] = None,
                    compact_first: Annotated[bool, typer.Option("--compact", help="flush inlined rows and merge small files first")] = False) -> None:
    """Expire old snapshots and delete the files nothing uses any more (old and orphaned)."""
    from datetime import timedelta

    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.lake.maintenance import compact, vacuum

    settings = settings_from(lake=lake)
    hours = settings.lake_retention_hours if retention_hours is None else retention_hours
    if hours < 0:
        console.print("[red]error:[/] --retention-hours must be >= 0")
        raise typer.Exit(2)
    target = lake_from_settings(settings)
    if compact_first:
        done = run_clean(lambda: compact(target))
        Console().print(f"compacted: {done.rows_flushed} inlined rows written out, {done.files_flushed} -> "
                        f"{done.files_after} files (snapshot {done.snapshot_after})")
    report = run_clean(lambda: vacuum(target, retention=timedelta(hours=hours)))
    Console().print(f"expired {report.snapshots_expired} snapshot(s); deleted {report.files_deleted} old and "
                    f"{report.orphans_deleted} orphaned file(s)")


@app.command()
def invalidate(url: Annotated[str, typer.Option(help="server base URL")] = "http://127.0.0.1:8000",
               tag: Annotated[list[str] | None, typer.Option(help="tag to invalidate (repeatable)")] = None) -> None:
    """Ask a running server to drop cached answers (all, or by tag)."""
    settings = settings_from()
    run_clean(lambda: notify_server(url, settings.admin_token, tag or []))


@app.command()
def demo(port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
         host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
         data_dir: Annotated[Path, typer.Option("--dir", help="where the demo export and lake live")] = Path(".kasoku/demo"),
         plays: Annotated[int, typer.Option(help="plays in the generated history (at least 1)", min=1)] = 300_000,
         lake: LakeOpt = None,
         no_serve: Annotated[bool, typer.Option("--no-serve", help="build the data, then exit")] = False) -> None:
    """Build a realistic demo history through the real importer, then serve it."""
    from kasoku.demo import prepare_demo

    settings = run_clean(lambda: prepare_demo(data_dir, plays=plays, console=console, progress=progress_bar,
                                              settings=settings_from(), lake=lake))
    settings = settings.with_overrides(host=host, port=port)
    base = f"http://{host}:{port}"
    console.print(f"\n[bold green]kasoku demo[/] — open {base}/ in a browser (the dashboard), or try:")
    for path in ["/v1/listening/top-tracks?limit=5", "/v1/listening/top-artists?start=2024-01-01&end=2024-12-31",
                 "/v1/listening/stats?granularity=month", "/v1/listening/hours", "/v1/listening/search?q=love",
                 "/v1/listening/plays?limit=3", "/health", "/metrics", "/docs"]:
        console.print(f"  curl -s '{base}{path}'", soft_wrap=True, highlight=False)
    from kasoku.domains.racing.demo import example_paths

    console.print("[bold]racing (the JV-Data demo, in the same lake):[/]")
    for path in example_paths():
        console.print(f"  curl -s '{base}{path}'", soft_wrap=True, highlight=False)
    if no_serve:
        return
    run_server(settings)


@app.command()
def bench(url: Annotated[str, typer.Argument(help="URL to GET")],
          warmup: Annotated[int, typer.Option(help="requests before measuring")] = 10,
          iterations: Annotated[int, typer.Option(help="measured requests")] = 100,
          concurrency: Annotated[int, typer.Option(help="requests in flight at once")] = 1,
          header: Annotated[list[str] | None, typer.Option(help="extra header 'Name: value' (repeatable)")] = None,
          accept: Annotated[str | None, typer.Option(help="Accept header (format)")] = None,
          encoding: Annotated[str | None, typer.Option(help="Accept-Encoding header")] = None) -> None:
    """Measure a URL: mean, stdev, min, max, p50, p95, p99 and requests/s."""
    import asyncio

    import httpx

    from kasoku.bench import format_result, run_bench

    headers: dict[str, str] = {}
    for item in header or []:
        name, sep, value = item.partition(":")
        if not sep:
            console.print(f"[red]error:[/] header {item!r} is not 'Name: value'")
            raise typer.Exit(2)
        headers[name.strip()] = value.strip()
    if accept:
        headers["Accept"] = accept
    headers["Accept-Encoding"] = encoding or "identity"
    try:
        result = asyncio.run(run_bench(url, warmup=warmup, iterations=iterations, concurrency=concurrency, headers=headers))
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/] {url}: {exc}")
        raise typer.Exit(1) from None
    print(format_result(result))


@app.command()
def advise(url: Annotated[str, typer.Option(help="server base URL")] = "http://127.0.0.1:8000") -> None:
    """Walk the cache adoption flowchart on a running server's measurements."""
    import httpx

    settings = settings_from()
    headers = {"Authorization": f"Bearer {settings.admin_token}"} if settings.admin_token else {}

    def fetch() -> Any:
        try:
            response = httpx.get(url.rstrip("/") + "/admin/advise", headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise KasokuError(f"could not reach {url}: {exc}") from None
        if response.status_code >= 400:
            raise KasokuError(f"{url} answered {response.status_code}: {response.text[:200]}")
        return response.json()

    result = run_clean(fetch)
    table = Table(title="cache adoption flowchart")
    for column in ("question", "measured", "answer", "then"):
        table.add_column(column)
    for step in result["path"]:
        table.add_row(step["question"], step["measured"], "yes" if step["answer"] else "no", step["then"])
    Console().print(table)
    for line in result["advice"]:
        Console().print(f"- {line}")


@keys_app.command("create")
def keys_create(user: Annotated[str, typer.Option("--user", help="whose data the key reads")],
                scope: Annotated[str, typer.Option("--scope", help="read (that user's data) or admin (any user, /admin)")] = "read",
                name: Annotated[str | None, typer.Option("--name", help="a name to list and revoke it by")] = None,
                lake: LakeOpt = None, state: StateOpt = None) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from kasoku.keys import KeyStore

    settings = settings_from(lake=lake, state=state)
    store = KeyStore.for_lake(settings.state, settings.lake)
    key, secret = run_clean(lambda: store.create(user, scope, name))
    console.print(f"created {key.scope} key [bold]{key.name}[/] for user {key.user} (lake {settings.lake}); "
                  "it is shown once, keep it now:", highlight=False)
    print(secret)


@keys_app.command("list")
def keys_list(lake: LakeOpt = None, state: StateOpt = None) -> None:
    """List the API keys of a lake (names, users, scopes; never the keys)."""
    import datetime as dt

    from kasoku.keys import KeyStore

    settings = settings_from(lake=lake, state=state)
    store = run_clean(lambda: KeyStore.for_lake(settings.state, settings.lake))
    table = Table(title=f"API keys of {settings.lake} ({store.path})")
    for column in ("name", "user", "scope", "created"):
        table.add_column(column)
    for key in store.keys():
        created = dt.datetime.fromtimestamp(key.created_at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        table.add_row(key.name, key.user, key.scope, created)
    Console().print(table)
    if not store.enabled:
        Console().print("no keys: the server answers anyone who reaches it (loopback only, unless --allow-anonymous)")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name (kasoku keys list)")],
                lake: LakeOpt = None, state: StateOpt = None) -> None:
    """Revoke an API key: a running server refuses it within a second, sessions included."""
    from kasoku.keys import KeyStore

    settings = settings_from(lake=lake, state=state)
    store = KeyStore.for_lake(settings.state, settings.lake)
    key = run_clean(lambda: store.revoke(name))
    console.print(f"revoked {key.name} ({key.scope} key of user {key.user})", highlight=False)


@racing_app.command("import")
def racing_import(files: Annotated[list[Path], typer.Argument(help="JV-Data files (raw cp932 records, CRLF)")],
                  lake: LakeOpt = None,
                  dataspec: Annotated[str | None, typer.Option("--dataspec", help="file every record under this "
                                      "dataspec (e.g. 0B15); default: by record type")] = None) -> None:
    """Import JV-Data files into the lake: the tables (one per record type; 速報 → 確定 replaces, data_code 0
    deletes) and the raw records for the /api/v1/data replay, in one transaction. Validated first,
    all-or-nothing, idempotent. Running servers see it by themselves (the lake's snapshot)."""
    settings = settings_from(lake=lake)
    done = run_clean(lambda: do_racing_import(files, settings.lake, dataspec))
    t = Table(title="racing lake import", show_header=False)
    t.add_row("files", str(done.files))
    t.add_row("records read", f"{done.records:,}")
    t.add_row("rows written", f"{done.inserted:,} ({done.replaced:,} replaced an older record)")
    t.add_row("rows deleted (data_code 0)", f"{done.deleted:,}")
    t.add_row("unchanged (already in the lake)", f"{done.unchanged:,}")
    t.add_row("raw records added (replay)", f"{done.raw_added:,}")
    for name, count in done.by_table.items():
        t.add_row(f"table {name}", f"{count:,}")
    t.add_row("lake", settings.lake)
    t.add_row("snapshot", str(done.snapshot) if done.snapshot is not None else "none (nothing changed)")
    Console().print(t)


def _check_files(files: list[Path]) -> None:
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise KasokuError(f"no such file: {', '.join(missing)}")


def do_racing_import(files: list[Path], lake: str, dataspec: str | None) -> Any:
    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.domains.racing.lake_import import import_files

    _check_files(files)
    settings = settings_from(lake=lake)
    with progress_bar() as bar:
        task = bar.add_task("validating JV-Data files", total=len(files))
        return import_files(lake_from_settings(settings), list(files), dataspec=dataspec,
                            progress=lambda done, _total, _path: bar.update(task, completed=done))


from kasoku.cli_spotify import register as _register_spotify  # noqa: E402  (its commands use the helpers above)

_register_spotify(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
