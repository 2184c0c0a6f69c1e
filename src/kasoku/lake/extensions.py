"""DuckDB extensions from PyPI wheels, loaded by path: nothing is downloaded at run time.

``httpfs`` (S3), ``ducklake`` (the lake format), ``sqlite_scanner`` (the embedded DuckLake
catalog) and ``postgres_scanner`` (a PostgreSQL catalog) come from the ``duckdb-extension-*``
packages pinned with DuckDB in ``pyproject.toml``. DuckLake asks for the catalog's extension
by name when it attaches a ``ducklake:sqlite:`` / ``ducklake:postgres:`` catalog; with
autoloading off it finds it only if it is already loaded, so :func:`load` loads the catalog's
extension by path before ``ducklake``.

DuckDB checks an extension's signature on every ``LOAD`` (about a second for these 35 MB
files on a busy machine). The first connection of a process loads them verified; later
connections of the same process load the very same files with the check off
(:func:`connect_config`), so a writer connection costs milliseconds, not seconds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import duckdb

from kasoku.errors import ConfigError

_verified: set[str] = set()
_lock = threading.Lock()


def _path(package: str, name: str) -> Path:
    try:
        module = __import__(package)
    except ImportError:
        raise ConfigError(f"the {package.replace('_', '-')} package is not installed; install it with the same "
                          f"version as duckdb ({duckdb.__version__})") from None
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ConfigError(f"{name} extension for DuckDB {duckdb.__version__} not found at {path}; "
                          f"install {package.replace('_', '-')} with the same version as duckdb")
    return path


def httpfs_path() -> Path:
    return _path("duckdb_extension_httpfs", "httpfs")


def ducklake_path() -> Path:
    return _path("duckdb_extension_ducklake", "ducklake")


def sqlite_path() -> Path:
    return _path("duckdb_extension_sqlite_scanner", "sqlite_scanner")


def postgres_path() -> Path:
    return _path("duckdb_extension_postgres_scanner", "postgres_scanner")


CatalogKind = Literal["sqlite", "postgres"]


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _wanted(s3: bool, catalog: CatalogKind) -> list[Path]:
    return ([sqlite_path() if catalog == "sqlite" else postgres_path(), ducklake_path()]
            + ([httpfs_path()] if s3 else []))


def connect_config(*, s3: bool, catalog: CatalogKind = "sqlite", **extra: Any) -> dict[str, Any]:
    """DuckDB config for a new connection: never install or autoload; skip the signature check
    only once this process has loaded (and so verified) every extension file it will load."""
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    with _lock:
        if {str(p) for p in _wanted(s3, catalog)} <= _verified:
            config["allow_unsigned_extensions"] = True
    config.update({k: v for k, v in extra.items() if v is not None})
    return config


def load_one(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Load one extension file by path (e.g. only the postgres extension, to probe a catalog)."""
    con.execute(f"LOAD {quote(str(path))}")
    with _lock:
        _verified.add(str(path))


def load(con: duckdb.DuckDBPyConnection, *, s3: bool, catalog: CatalogKind = "sqlite") -> None:
    """Load the lake's extensions into ``con`` by path (httpfs only for an S3 lake; the catalog's
    own extension before ducklake)."""
    paths = _wanted(s3, catalog)
    for path in paths:
        con.execute(f"LOAD {quote(str(path))}")
    with _lock:
        _verified.update(str(p) for p in paths)
