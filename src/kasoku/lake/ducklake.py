"""The lake: a DuckLake (a SQL catalog + Parquet data files), local or on S3.

Layout of an embedded lake ``--lake DIR``::

    DIR/catalog.sqlite      the DuckLake catalog (SQLite, WAL mode): tables, snapshots, file lists
    DIR/data/main/<table>/year=YYYY/month=M/ducklake-<uuid>.parquet

An ``s3://bucket/prefix`` lake keeps its data files under that prefix (through httpfs) and its
catalog where the ``catalog`` argument says (default: a local SQLite file, see
``lake_from_settings``). ``catalog`` is the ``lake_catalog`` setting (catalog.py): a SQLite
file path, or a PostgreSQL database (``postgres://…`` URL or libpq ``postgres:dbname=…``) that
servers, ingests and collectors on several machines share. With PostgreSQL, commits are
PostgreSQL transactions; the data files stay on S3 (or the directory).

Every commit is a DuckLake snapshot; its id is the data version caches follow. Each
process attaches the lake once for reading (:class:`~kasoku.lake.duckdb_pool.DuckDBPool`);
writers open their own connection (:func:`~kasoku.lake.transaction.write`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlparse

import duckdb

from kasoku.errors import ConfigError
from kasoku.lake import extensions
from kasoku.lake.catalog import Catalog, parse_catalog
from kasoku.lake.extensions import quote

ALIAS = "lake"  # the attached catalog's name in every connection: tables are lake.<name>
CATALOG_FILE = "catalog.sqlite"
_ATTACH_ATTEMPTS = 20
_CREATE_LOCK = threading.Lock()
DATA_DIR = "data"


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible store (AWS S3, Cloudflare R2, MinIO, moto)."""

    endpoint: str | None = None  # "localhost:9000" or "https://<acct>.r2.cloudflarestorage.com"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    url_style: Literal["path", "vhost"] = "path"
    use_ssl: bool = True

    def host_and_ssl(self) -> tuple[str | None, bool]:
        """Endpoint without scheme plus whether to use TLS (a scheme in ``endpoint`` wins)."""
        if self.endpoint is None:
            return None, self.use_ssl
        if "://" in self.endpoint:
            u = urlparse(self.endpoint)
            return u.netloc, u.scheme == "https"
        return self.endpoint.rstrip("/"), self.use_ssl


def default_s3_catalog(state_dir: str, url: str) -> str:
    """Where an S3 lake's SQLite catalog lives when no setting says: one file per lake URL."""
    digest = hashlib.blake2b(url.encode(), digest_size=8).hexdigest()
    return os.path.join(state_dir, "lake-catalogs", f"{digest}.sqlite")


class Lake:
    """Where a DuckLake lives and how to attach it; holds no connection itself."""

    def __init__(self, url: str, s3: S3Options | None = None, *, catalog: str | None = None) -> None:
        self.url = url
        self.s3 = s3
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ConfigError(f"S3 lake URL needs a bucket: {url!r}")
            self.is_s3 = True
            self.embedded = False
            self.data_path = url.rstrip("/") + "/"
            if catalog is None:
                raise ConfigError("an s3:// lake needs a catalog location (setting lake_catalog)")
        elif parsed.scheme in ("", "file"):
            self.is_s3 = False
            base = os.path.abspath(os.path.expanduser(parsed.path if parsed.scheme == "file" else url))
            self.data_path = os.path.join(base, DATA_DIR) + os.sep
            # The embedded layout (catalog and data inside DIR): the data path follows the directory.
            self.embedded = catalog is None
            catalog = catalog or os.path.join(base, CATALOG_FILE)
        else:
            raise ConfigError(f"lake URL must be a directory, file:// or s3:// URL, got {url!r}")
        self.catalog = catalog
        self.catalog_spec: Catalog = parse_catalog(catalog)
        self._initialised = False  # a PostgreSQL catalog seen initialised once (it stays so)

    def __repr__(self) -> str:
        return f"Lake({self.url!r}, catalog={self.catalog_spec.display!r})"

    @property
    def sqlite_catalog(self) -> str | None:
        """The catalog's SQLite file, or None for another kind of catalog."""
        return self.catalog_spec.path if self.catalog_spec.kind == "sqlite" else None

    @property
    def attach_target(self) -> str:
        """``ducklake:<catalog>``: the string DuckDB's ATTACH takes (may hold a password)."""
        return f"ducklake:{self.catalog_spec.target}"

    @property
    def catalog_display(self) -> str:
        """The attach target with any password replaced by ``***`` (status output, logs)."""
        return f"ducklake:{self.catalog_spec.display}"

    def exists(self) -> bool:
        """Whether the catalog holds a lake already (``serve`` without ``--create`` needs one).

        SQLite: the file exists. PostgreSQL: DuckLake's ``ducklake_metadata`` table is there,
        asked through DuckDB's postgres extension (no second driver to keep in step).
        """
        path = self.sqlite_catalog
        if path is not None:
            return os.path.exists(path)
        if self._initialised:
            return True
        con = duckdb.connect(":memory:", config=extensions.connect_config(s3=False, catalog="postgres"))
        try:
            extensions.load_one(con, extensions.postgres_path())
            con.execute(f"ATTACH {quote(self.catalog_spec.conninfo)} AS kasoku_pg (TYPE postgres, READ_ONLY)")
            probe = "SELECT to_regclass('ducklake_metadata') IS NOT NULL AS found"
            row = con.execute(f"SELECT found FROM postgres_query('kasoku_pg', {quote(probe)})").fetchone()
        except duckdb.Error as exc:
            raise self._redacted(exc) from None
        finally:
            con.close()
        self._initialised = bool(row and row[0])
        return self._initialised

    def _redacted(self, exc: duckdb.Error) -> duckdb.Error:
        """``exc`` with the catalog's password cut out of its text (libpq errors may quote the conninfo)."""
        text = str(exc)
        clean = self.catalog_spec.redact(text)
        return exc if clean == text else type(exc)(clean)

    def _prepare(self, read_only: bool) -> bool:
        """Local directories exist; a new SQLite catalog starts in WAL mode, so readers never block a commit.

        Returns whether the catalog already existed (False: the first writable attach
        initialises it; a PostgreSQL catalog is only asked before a read-only attach). An
        existing SQLite catalog is never opened with Python's own sqlite3: two SQLite libraries in
        one process share POSIX file locks, and closing one's handle drops the locks the other
        (DuckDB's) holds — which loses writes and gives "disk I/O error".
        """
        if not self.is_s3:
            os.makedirs(self.data_path, exist_ok=True)
        path = self.sqlite_catalog
        if path is None:
            return self.exists() if read_only else True
        with _CREATE_LOCK:
            if os.path.exists(path):
                return True
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
            db = sqlite3.connect(path, timeout=30)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            finally:
                db.close()
            return False

    def connect(self, *, read_only: bool = False, threads: int | None = None,
                memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
        """A new DuckDB database with the lake attached as ``lake`` (its own DuckDB instance).

        ``read_only`` on a lake that does not exist yet creates the empty lake first.
        """
        if not self._prepare(read_only) and read_only:
            self.connect().close()  # initialise the new catalog (a read-only attach cannot)
        for attempt in range(1, _ATTACH_ATTEMPTS + 1):
            try:
                return self._connect(read_only, threads, memory_limit)
            except duckdb.Error as exc:
                # Two processes creating a new lake at once: one initialises the catalog, the other
                # finds it locked for a moment (SQLite) or its tables half made (PostgreSQL: a
                # duplicate key, a table that already exists). Anything else is a real error.
                text = str(exc).lower()
                racing = any(hint in text for hint in ("locked", "duplicate key", "already exists"))
                if not racing or attempt == _ATTACH_ATTEMPTS:
                    raise self._redacted(exc) from None
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable: the loop returns or raises")

    def _connect(self, read_only: bool, threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
        kind = self.catalog_spec.kind
        conn = duckdb.connect(":memory:", config=extensions.connect_config(s3=self.is_s3, catalog=kind, threads=threads,
                                                                           memory_limit=memory_limit))
        try:
            # TimeZone pinned: TIMESTAMPTZ results come back in the session zone, which otherwise
            # follows the host. (GLOBAL, so the pool's cursors inherit it.)
            conn.execute("SET GLOBAL TimeZone = 'UTC'")
            extensions.load(conn, s3=self.is_s3, catalog=kind)
            if self.is_s3:  # before ATTACH: DuckLake checks the data path as it attaches
                conn.execute(self._secret_sql())
            opts = [f"DATA_PATH {quote(self.data_path)}"] + (["READ_ONLY"] if read_only else [])
            if self.embedded:
                # DuckLake keeps the data path it was created with (absolute) and refuses another
                # one; file paths inside are relative to it. An embedded lake's data is DIR/data by
                # construction, so a moved or renamed DIR (or one mounted elsewhere) must still open.
                opts.append("OVERRIDE_DATA_PATH TRUE")
            conn.execute(f"ATTACH {quote(self.attach_target)} AS {ALIAS} ({', '.join(opts)})")
        except BaseException:
            conn.close()
            raise
        return conn

    def _secret_sql(self) -> str:
        opts = ["TYPE s3"]
        s3 = self.s3
        if s3 is not None:
            host, ssl = s3.host_and_ssl()
            if s3.access_key_id:
                opts.append(f"KEY_ID {quote(s3.access_key_id)}")
            if s3.secret_access_key:
                opts.append(f"SECRET {quote(s3.secret_access_key)}")
            if s3.session_token:
                opts.append(f"SESSION_TOKEN {quote(s3.session_token)}")
            opts.append(f"REGION {quote(s3.region)}")
            if host:
                opts.append(f"ENDPOINT {quote(host)}")
            opts.append(f"URL_STYLE {quote(s3.url_style)}")
            opts.append(f"USE_SSL {'true' if ssl else 'false'}")
        return f"CREATE SECRET kasoku_lake ({', '.join(opts)})"


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The lake's current snapshot id as seen by a new transaction on ``con`` (cheap)."""
    row = con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()
    return int(row[0]) if row else 0


# DuckLake's per-snapshot change kinds that only add or remove rows (anything else: a table was
# created, altered or dropped).
ROW_CHANGES = frozenset({"tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete"})


@dataclass(frozen=True)
class TableChange:
    """One entry of a snapshot's change map: its kind and the tables it names."""

    kind: str
    tables: tuple[tuple[str, bool], ...]  # (table name, known): unknown ids (a dropped table) by their id's tail


def changes_since(con: duckdb.DuckDBPyConnection, since: int) -> tuple[int, list[TableChange] | None]:
    """(current snapshot, every table change after ``since`` up to it) from DuckLake's snapshot log;
    None when the log no longer reaches back to ``since`` (vacuumed). What the changes mean is
    each domain's business (domains/*/versions: which cached answers they touch)."""
    current = current_snapshot(con)
    if since >= current:
        return current, []
    lake = quote(ALIAS)
    oldest = con.execute(f"SELECT min(snapshot_id) FROM ducklake_snapshots({lake})").fetchone()
    if oldest is None or oldest[0] is None or since < int(oldest[0]):
        return current, None
    names = {str(tid): name for tid, name in con.execute(
        f"SELECT table_id, table_name FROM ducklake_table_info({lake})").fetchall()}
    out: list[TableChange] = []
    for (changes,) in con.execute(f"SELECT changes FROM ducklake_snapshots({lake}) WHERE snapshot_id > ? "
                                  "AND snapshot_id <= ?", [since, current]).fetchall():
        # the map comes back as a dict (or as key/value lists)
        items = changes.items() if isinstance(changes, dict) else zip(changes.get("key", []), changes.get("value", []))
        for kind, values in items:
            ids = [str(v) for v in values or []]
            out.append(TableChange(str(kind), tuple((names[i], True) if i in names else (i.rsplit(".", 1)[-1], False)
                                                    for i in ids)))
    return current, out
