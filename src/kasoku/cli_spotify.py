"""``kasoku spotify login|status`` and ``kasoku collect``: the Spotify collector's commands (thin)."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kasoku import cli as base

spotify_app = typer.Typer(no_args_is_help=True, help="Spotify Web API: log in, see what the collector does.")
StateOpt = Annotated[Path | None, typer.Option("--state", help="state directory for tokens and cursors (env KASOKU_STATE)")]
UserOpt = Annotated[str | None, typer.Option("--user", help="user id (default: settings user_id)")]


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


@spotify_app.command("login")
def login_cmd(user: UserOpt = None,
              port: Annotated[int, typer.Option(help="port of the http://127.0.0.1:PORT/callback listener")] = 8888,
              no_browser: Annotated[bool, typer.Option("--no-browser", help="only print the URL (headless box: paste the redirected URL back)")] = False,
              state: StateOpt = None, lake: base.LakeOpt = None) -> None:
    """Log in with Authorization Code + PKCE and store the refresh token (0600) in the state directory."""
    from kasoku.domains.listening.collector.login import login

    settings = base.settings_from(state=state, lake=lake)
    user_id = user or settings.user_id
    tokens = base.run_clean(lambda: login(settings, user_id, port=port, open_browser=not no_browser, stdin=sys.stdin,
                                          show=lambda text: base.console.print(text, soft_wrap=True, highlight=False),
                                          timeout=600))
    Console().print(f"logged in: kasoku user {user_id!r} = Spotify {tokens.display_name or tokens.spotify_user or '?'} "
                    f"(scopes: {tokens.scope or '?'}); refresh token stored in {settings.state}")


@spotify_app.command("status")
def status_cmd(user: Annotated[str | None, typer.Option("--user", help="one user (default: all in the state directory)")] = None,
               state: StateOpt = None, lake: base.LakeOpt = None,
               as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False) -> None:
    """Who is logged in, scopes, last poll, lag, counters, open gaps (read from the lake)."""
    import orjson

    from kasoku.domains.listening.collector.status import collector_status, lake_gaps
    from kasoku.domains.listening.domain import lake_from_settings

    settings = base.settings_from(state=state, lake=lake)
    gaps = base.run_clean(lambda: lake_gaps(lake_from_settings(settings)))  # gaps live in the lake
    status = collector_status(settings.state, gaps, [user] if user else None)
    if as_json:
        print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    out = Console()
    if not status["users"]:
        out.print(f"nobody is logged in (state directory {settings.state}); run `kasoku spotify login`")
    for u in status["users"]:
        table = Table(title=f"user {u['user_id']}", show_header=False)
        c = u["counters"]
        rows = [("logged in", f"{'yes' if u['logged_in'] else 'no'} as {u['display_name'] or u['spotify_user'] or '?'}"),
                ("scopes", " ".join(u["scopes"]) or "-"), ("last poll", _when(u["last_poll_at"])),
                ("last success", _when(u["last_success_at"])),
                ("lag", f"{u['lag_seconds']:.0f} s since the last successful poll" if u["lag_seconds"] is not None else "-"),
                ("newest play ended", _when(u["newest_play_end"])),
                ("polls", f"{c['polls']} ({c['empty_polls']} with nothing new, {c['failed_polls']} failed)"),
                ("plays written", str(c["plays_written"])), ("429 answers", str(c["rate_limited"])),
                ("last error", u["last_error"] or "-"),
                ("open gaps", str(len(u["open_gaps"])))]
        for gap in u["open_gaps"]:
            rows.append(("  gap", f"{gap['start']} .. {gap['end']} (since {gap['detected_at']}; import an export to fill it)"))
        for gap in u["closed_gaps"][-3:]:
            rows.append(("  closed", f"{gap['start']} .. {gap['end']}: {gap['filled']} play(s), by {gap['closed_by']}"))
        for label, value in rows:
            table.add_row(label, value)
        out.print(table)
    a = status["artists"]
    out.print(f"artists: {a['cached']} cached, {a['queued']} queued, {a['requests']} requests so far")
    for job, run in sorted(status["jobs"].items()):
        out.print(f"job {job}: last run {_when(run['at'])}: {run['outcome']}")


def collect(once: Annotated[bool, typer.Option("--once", help="one poll (and one look at --watch), then exit")] = False,
            user: Annotated[list[str] | None, typer.Option("--user", help="user to poll (repeatable; default: all logged in)")] = None,
            state: StateOpt = None, lake: base.LakeOpt = None,
            watch: Annotated[Path | None, typer.Option("--watch", help="import export files dropped into this folder (setting import_dir)")] = None,
            notify: Annotated[str | None, typer.Option(help="server URL whose cache to invalidate after each commit")] = None) -> None:
    """Poll Spotify's recently-played into the lake: once, or on the schedule (foreground)."""
    from kasoku.domains.listening.collector.jobs import collect_once, collect_users
    from kasoku.domains.listening.collector.watch import ImportFolder
    from kasoku.domains.listening.domain import lake_from_settings

    settings = base.settings_from(state=state, lake=lake, import_dir=watch)
    users = collect_users(settings, user)
    if not users and settings.import_dir is None:
        base.console.print(f"[red]error:[/] nobody is logged in (state directory {settings.state}): run `kasoku spotify login`")
        raise typer.Exit(1)
    the_lake = base.run_clean(lambda: lake_from_settings(settings))

    def notify_months(months: list[str]) -> None:
        if notify and months:
            base.notify_server(notify, settings.admin_token, [f"month:{m}" for m in months] + ["listening:open-range"])

    def on_commit(result: Any) -> None:
        notify_months(result.summary.months_rewritten if result.summary else [])

    folder = ImportFolder(settings, the_lake, settings.import_dir, user_id=settings.user_id,
                          on_commit=lambda s: notify_months(s.months_rewritten)) if settings.import_dir else None
    if once:
        done = base.run_clean(lambda: collect_once(settings, the_lake, users, on_commit=on_commit))
        table = Table(title="collect --once")
        for column in ("user", "returned", "new", "written", "http calls", "gap"):
            table.add_column(column)
        for r in done.polls:
            table.add_row(r.user_id, str(r.returned), str(r.new_items), str(r.written), str(r.http_calls),
                          f"{r.gap.start} .. {r.gap.end}" if r.gap else "-")
        Console().print(table)
        if done.artists is not None:
            Console().print(f"artists: {done.artists.fetched} fetched, {done.artists.queued} still queued")
        for imported in folder.scan(single_look=True) if folder else []:
            Console().print(f"{imported.name}: {'imported' if imported.ok else 'FAILED'} -> {imported.moved_to}"
                            + (f" ({imported.error})" if imported.error else ""))
        for who, message in done.errors.items():
            base.console.print(f"[red]error:[/] {who}: {message}")
        if done.errors:
            raise typer.Exit(1)
        return
    from kasoku.domains.listening.collector.schedule import CollectorScheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise; ours say what happened

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM (systemd, docker stop) ends like Ctrl-C: the scheduler shuts down cleanly

    signal.signal(signal.SIGTERM, stop)
    scheduler = base.run_clean(lambda: CollectorScheduler(settings, the_lake, users=user or None, on_commit=on_commit,
                                                          watch=folder.scan if folder else None))
    scheduler.start()
    base.console.print(f"collecting for {', '.join(users) or 'nobody yet'} every {settings.spotify.poll_interval:.0f} s "
                       f"(Ctrl-C to stop)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()


def register(app: typer.Typer) -> None:
    app.add_typer(spotify_app, name="spotify")
    app.command("collect")(collect)
