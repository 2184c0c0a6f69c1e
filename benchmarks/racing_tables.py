"""A year of race results (all `se` rows of one year) as Arrow over HTTP vs reading the same Parquet with DuckDB.

Data: the demo's SE records (652 runners in 48 races over 3 days, two courses) scaled up to a
JRA-sized year: every copy moves the three days to new dates through 2024 and the courses to
other racecourse codes (bytes 12-21 of each record), so race keys never collide. ``--copies 72``
(default) gives ~47 000 runners in ~3 500 races on 108 race days. They go through the real
import (``kasoku racing import --lake``: one DuckLake transaction) into a lake in a temp dir.

Measured, in one run on the same machine:

- **direct**: DuckDB reading that year's Parquet data files of the lake's ``se`` table
  (``read_parquet`` over the files DuckLake lists) into a ``pyarrow.Table`` — the floor an ML
  pipeline reading the lake's files itself would get; also the same through the DuckLake
  catalog (``SELECT * FROM lake.se WHERE race_date …``);
- **cold**: ``GET /api/v1/tables/se?start=2024-01-01&end=2024-12-31&limit=1000000&format=arrow``
  on a real uvicorn server (loopback TCP), the first time (engine miss: DuckDB query at the
  pinned snapshot + Arrow IPC), read into a ``pyarrow.Table`` by the client;
- **warm**: the same request again (L1 hit on the fast path), same client work.

Goal (issue 15): warm ≤ 1.2x direct. Prints medians, p95 and the ratios; asserts nothing.

    PYTHONPATH=src:. python -m benchmarks.racing_tables [--copies 72] [--repeat 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import uvicorn

from kasoku.config import Settings
from kasoku.domains.racing.demo import RACE_DAYS, generate
from kasoku.domains.racing.lake_import import import_records
from kasoku.lake.ducklake import ALIAS, Lake
from kasoku.lake.extensions import quote
from kasoku.service import build_app

COURSE_SETS = (("05", "09"), ("06", "08"))  # demo's (Tokyo, Hanshin) -> others
URL = "/api/v1/tables/se?start=2024-01-01&end=2024-12-31&limit=1000000&format=arrow"


def year_of_se(copies: int) -> list[bytes]:
    """The demo's SE records (final results) copied ``copies`` times to other days and courses of 2024."""
    demo = generate()
    se = [r for r in demo.files["RACE"] if r[:2] == b"SE"]
    day_index = {d: i for i, d in enumerate(RACE_DAYS)}
    out: list[bytes] = []
    first = dt.date(2024, 1, 6)
    for copy in range(copies):
        week, variant = divmod(copy, 2)  # two copies a week: four racecourses a day
        courses = dict(zip(("05", "09"), COURSE_SETS[variant]))
        for rec in se:
            day = first + dt.timedelta(days=(week % 52) * 7 + day_index[rec[11:19].decode()])
            if week >= 52:
                day += dt.timedelta(days=2)  # a second pass of the year: other weekdays
            course = courses[rec[19:21].decode()]
            out.append(rec[:11] + day.strftime("%Y%m%d").encode() + course.encode() + rec[21:])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, lake: str) -> None:
        self.port = free_port()
        app = build_app(Settings(lake=lake, cache_l1_bytes=512 * 1024 * 1024))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def timed(fn: Callable[[], pa.Table], repeat: int) -> tuple[list[float], pa.Table]:
    times, table = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        table = fn()
        times.append((time.perf_counter() - started) * 1000)
    assert table is not None
    return times, table


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=72, help="copies of the demo's 3 days (72: ~47k runners)")
    parser.add_argument("--repeat", type=int, default=15, help="measured repetitions per figure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kasoku-bench-racing-tables-") as tmp:
        lake_dir = str(Path(tmp) / "lake")
        records = year_of_se(args.copies)
        started = time.perf_counter()
        done = import_records(Lake(lake_dir), records)
        import_s = time.perf_counter() - started
        print(f"imported {done.inserted:,} se rows ({len(records):,} records) in one transaction: {import_s:.1f} s "
              f"({len(records) / import_s:,.0f} records/s, decode + merge + write)")

        lake = Lake(lake_dir)
        con = lake.connect(read_only=True)
        files = [r[0] for r in con.execute(f"SELECT data_file FROM ducklake_list_files({quote(ALIAS)}, 'se')").fetchall()]
        print(f"se: {len(files)} Parquet data file(s), {sum(Path(f).stat().st_size for f in files) / 1e6:.1f} MB")
        cols = ", ".join(f'"{c}"' for c, *_ in con.execute(f"DESCRIBE {ALIAS}.se").fetchall() if c not in ("_key", "_hash"))
        direct_con = duckdb.connect()

        def direct() -> pa.Table:
            return direct_con.execute(f"SELECT {cols} FROM read_parquet(?) WHERE race_date BETWEEN "
                                      "DATE '2024-01-01' AND DATE '2024-12-31'", [files]).to_arrow_table()

        def via_catalog() -> pa.Table:
            return con.execute(f"SELECT {cols} FROM {ALIAS}.se WHERE race_date BETWEEN DATE '2024-01-01' "
                               "AND DATE '2024-12-31'").to_arrow_table()

        direct()  # OS cache warm for every contender
        direct_ms, direct_table = timed(direct, args.repeat)
        catalog_ms, _ = timed(via_catalog, args.repeat)

        codings = ["identity", "zstd", "br", "gzip"]
        warm: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        with Server(lake_dir) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=300) as http:
            def over_http(coding: str) -> Callable[[], pa.Table]:
                def get() -> pa.Table:
                    r = http.get(URL, headers={"Accept-Encoding": coding})
                    r.raise_for_status()
                    sizes[coding] = int(r.headers.get("content-length") or len(r.content))
                    return ipc.open_stream(pa.py_buffer(r.content)).read_all()
                return get

            cold_ms, cold_table = timed(over_http("identity"), 1)
            cache = http.get(URL, headers={"Accept-Encoding": "identity"}).headers.get("x-cache")
            for coding in codings:
                over_http(coding)()  # the first request of a coding compresses the body once (memoised)
                warm[coding], warm_table = timed(over_http(coding), args.repeat)
                assert warm_table.num_rows == direct_table.num_rows

        def ids(t: pa.Table) -> list[tuple[str, int]]:
            return sorted(zip(t.column("race_id").to_pylist(), t.column("horse_number").to_pylist()))
        assert cold_table.num_rows == done.inserted
        assert ids(warm_table) == ids(direct_table)  # the same rows (the API's are in key order)

    d = statistics.median(direct_ms)
    print(f"\na year of se: {direct_table.num_rows:,} rows x {direct_table.num_columns} columns; Arrow body "
          f"{sizes['identity'] / 1e6:.1f} MB; medians of {args.repeat} (cold: once); machine shared (2 cores, 4 helpers)")
    print(f"{'path':<50}{'body MB':>8}{'median ms':>11}{'p95 ms':>9}{'x direct':>10}")
    rows = [("direct: DuckDB read_parquet of the files", None, direct_ms),
            ("DuckDB through the DuckLake catalog", None, catalog_ms),
            ("HTTP cold (miss: lake query + Arrow IPC), identity", sizes["identity"], cold_ms)]
    rows += [(f"HTTP warm (X-Cache: {cache}), {c}", sizes.get(c), warm[c]) for c in codings]
    for name, size, ms in rows:
        mb = f"{size / 1e6:.1f}" if size else "-"
        print(f"{name:<50}{mb:>8}{statistics.median(ms):>11.1f}{p95(ms):>9.1f}{statistics.median(ms) / d:>10.2f}")
    best = min(codings, key=lambda c: statistics.median(warm[c]))
    ratio = statistics.median(warm[best]) / d
    print(f"\ngoal warm <= 1.2x direct: best coding {best} {ratio:.2f}x, identity "
          f"{statistics.median(warm['identity']) / d:.2f}x -> {'met' if ratio <= 1.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
