"""Is the lake's data storage reachable? (readiness: the catalog answering is not enough).

A lake's catalog and its data files can live apart (a SQLite or PostgreSQL catalog, Parquet on
S3/R2): with S3 down and the catalog up, every query that reads a data file fails, so a server
is not ready. The probe lists one key under the data path — a single ListObjectsV2 request
through httpfs with the lake's own secret, whatever the lake holds — and never reads data.
A local lake's data directory is checked with the file system.
"""

from __future__ import annotations

import os

import duckdb

from kasoku.lake.ducklake import Lake
from kasoku.lake.extensions import quote

# A name no data file has: the listing answers (empty) when storage is up, raises when it is not.
_PROBE = ".kasoku-ready-probe"


def storage_reachable(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Raise (an OSError or duckdb.Error naming the failure) when the data storage does not answer."""
    if not lake.is_s3:
        if not os.path.isdir(lake.data_path) or not os.access(lake.data_path, os.R_OK | os.X_OK):
            raise OSError(f"the lake's data directory {lake.data_path} is missing or unreadable")
        return
    path = lake.data_path.rstrip("/") + "/" + _PROBE + "*"  # a wildcard: a real listing request
    # One attempt: httpfs's retries with back-off would take longer than readiness may wait, and
    # the probe then could not say *why* the lake is not ready.
    con.execute("SET http_retries = 0")
    try:
        con.execute(f"SELECT count(*) FROM glob({quote(path)})").fetchall()
    finally:
        con.execute("RESET http_retries")
