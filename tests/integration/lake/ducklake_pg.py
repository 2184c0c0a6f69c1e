"""A DuckLake with its catalog in PostgreSQL and its data on S3, on plain DuckDB.

Used by ``test_postgres_catalog.py`` in the test process and as ``python -m`` in writer
processes. Extensions are loaded by path from their PyPI packages (``duckdb-extension-*``,
pinned with DuckDB); autoinstall is off, so nothing is downloaded at run time.

    python -m tests.integration.lake.ducklake_pg WRITER_ID COMMITS ROWS [BARRIER_DIR]  (lake in KASOKU_TEST_LAKE, JSON)
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class LakeSpec:
    catalog_dsn: str  # libpq key/value: host=… port=… user=… dbname=…
    data_path: str  # s3://bucket/prefix/
    s3_endpoint: str  # host:port
    key_id: str
    secret: str
    region: str


def extension_path(package: str, name: str) -> Path:
    module = importlib.import_module(package)
    path = Path(module.__file__ or "").parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise FileNotFoundError(f"{name} extension for DuckDB {duckdb.__version__} not in {package}: {path}")
    return path


def attach(spec: LakeSpec, alias: str = "lake") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the DuckLake attached as ``alias`` (created on first attach)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    for package, name in (("duckdb_extension_httpfs", "httpfs"), ("duckdb_extension_postgres_scanner", "postgres_scanner"),
                          ("duckdb_extension_ducklake", "ducklake")):
        con.execute(f"LOAD '{extension_path(package, name)}'")
    con.execute("CREATE SECRET lake_s3 (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false)",
                [spec.key_id, spec.secret, spec.region, spec.s3_endpoint])
    # No inlining of small inserts into the catalog: every row goes to Parquet on S3 (what the test checks).
    con.execute(f"ATTACH 'ducklake:postgres:{spec.catalog_dsn}' AS {alias} (DATA_PATH '{spec.data_path}', "
                "DATA_INLINING_ROW_LIMIT 0)")
    return con


def write(spec: LakeSpec, writer: int, commits: int, rows: int, barrier: Path | None = None) -> None:
    """``commits`` separate transactions of ``rows`` rows each, tagged with ``writer``.

    ``barrier``: a directory; write ``ready-<writer>`` there once attached, then start only
    when ``go`` appears — so the writers' commits overlap in time.
    """
    con = attach(spec)
    try:
        if barrier is not None:
            (barrier / f"ready-{writer}").touch()
            deadline = time.monotonic() + 120
            while not (barrier / "go").exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("no go signal")
                time.sleep(0.01)
        for commit in range(commits):
            con.execute("INSERT INTO lake.plays SELECT ? AS writer, ? AS commit_no, range AS i FROM range(?)",
                        [writer, commit, rows])
    finally:
        con.close()


def spec_to_env(spec: LakeSpec) -> str:
    return json.dumps(asdict(spec))


if __name__ == "__main__":
    write(LakeSpec(**json.loads(os.environ["KASOKU_TEST_LAKE"])), int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
          Path(sys.argv[4]) if len(sys.argv) > 4 else None)
