"""Where a lake's DuckLake catalog lives: a SQLite file (embedded) or a PostgreSQL database.

The ``lake_catalog`` setting (env ``KASOKU_CATALOG`` or ``KASOKU_LAKE_CATALOG``) is one of:

- a file path, or ``sqlite:PATH`` — the embedded catalog (one machine; SQLite in WAL mode);
- ``postgres://user:password@host:5432/dbname?sslmode=require`` (or ``postgresql://``) — a URL;
- ``postgres:dbname=kasoku host=db user=kasoku password=…`` — libpq key/value form.

Both PostgreSQL forms become one libpq key/value string (what DuckDB's ``postgres`` extension
hands to libpq), so DuckLake attaches ``ducklake:postgres:<conninfo>``. Keywords are checked
against libpq's, so a typo is a :class:`~kasoku.errors.ConfigError` naming the setting at
start-up, not a connection error later. The password never appears in ``repr``, ``display``
or error text (:meth:`Catalog.redact`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from kasoku.errors import ConfigError

SETTING = "lake_catalog (env KASOKU_CATALOG or KASOKU_LAKE_CATALOG)"

# libpq's connection keywords (PostgreSQL 17 docs, "Parameter Key Words").
LIBPQ_KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth", "channel_binding",
    "connect_timeout", "client_encoding", "options", "application_name", "fallback_application_name",
    "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
    "gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslkeylogfile",
    "sslpassword", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "min_protocol_version", "max_protocol_version",
    "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs", "load_balance_hosts",
})
_SECRET_KEYS = frozenset({"password", "sslpassword"})
_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")


@dataclass(frozen=True)
class Catalog:
    """A parsed catalog location. ``target`` (what follows ``ducklake:``) may hold a password."""

    kind: Literal["sqlite", "postgres"]
    path: str | None = None  # the SQLite file
    params: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # libpq keywords, in order

    @property
    def conninfo(self) -> str:
        """libpq key/value string (PostgreSQL only); values quoted as libpq wants."""
        return " ".join(f"{k}={_quote(v)}" for k, v in self.params)

    @property
    def target(self) -> str:
        """The attach target after ``ducklake:``."""
        return f"sqlite:{self.path}" if self.kind == "sqlite" else f"postgres:{self.conninfo}"

    @property
    def display(self) -> str:
        """The target with every password replaced by ``***`` (for status output and logs)."""
        if self.kind == "sqlite":
            return self.target
        return "postgres:" + " ".join(f"{k}={'***' if k in _SECRET_KEYS else _quote(v)}" for k, v in self.params)

    def secrets(self) -> list[str]:
        return [v for k, v in self.params if k in _SECRET_KEYS and v]

    def redact(self, text: str) -> str:
        """``text`` (e.g. a driver's error message) with this catalog's passwords replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"Catalog({self.display!r})"


def _quote(value: str) -> str:
    if value and not re.search(r"[\s'\\]", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _bad(message: str) -> ConfigError:
    return ConfigError(f"setting {SETTING}: {message}", details={"setting": "lake_catalog"})


def _check(params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    unknown = sorted({k for k, _ in params if k not in LIBPQ_KEYWORDS})
    if unknown:
        raise _bad(f"unknown PostgreSQL connection keyword(s) {', '.join(unknown)} (libpq keywords: host, port, "
                   "dbname, user, password, sslmode, ...)")
    if not any(k in ("dbname", "service") for k, _ in params):
        raise _bad("a PostgreSQL catalog needs a database: postgres://user:password@host:5432/DBNAME "
                   "or postgres:dbname=DBNAME host=...")
    port = dict(params).get("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise _bad(f"port must be a number 1-65535, got {port!r}")
    return tuple(params)


def _from_url(value: str) -> Catalog:
    try:
        u = urlsplit(value)
        port = u.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:  # (its text may quote the URL: never echo a password)
        raise _bad("not a valid PostgreSQL URL (bad port?); expected postgres://user:password@host:5432/dbname") from None
    if u.fragment:
        raise _bad("a PostgreSQL URL has no #fragment")
    params: list[tuple[str, str]] = []
    if u.hostname:
        params.append(("host", unquote(u.hostname)))
    if port is not None:
        params.append(("port", str(port)))
    if u.username:
        params.append(("user", unquote(u.username)))
    if u.password:
        params.append(("password", unquote(u.password)))
    dbname = unquote(u.path.lstrip("/"))
    if "/" in dbname:
        raise _bad("the URL path must be just the database name (postgres://host/DBNAME)")
    if dbname:
        params.append(("dbname", dbname))
    try:
        params += parse_qsl(u.query, keep_blank_values=True, strict_parsing=bool(u.query))
    except ValueError:
        raise _bad("the URL's query must be key=value pairs such as ?sslmode=require") from None
    return Catalog("postgres", params=_check(params))


def parse_conninfo(text: str) -> list[tuple[str, str]]:
    """libpq's ``key=value key='quoted value'`` syntax (backslash escapes inside quotes)."""
    params: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return params
        m = _PAIR.match(text, i)
        if m is None:
            raise _bad("expected key=value pairs (libpq form: postgres:dbname=kasoku host=db user=kasoku)")
        key, i = m.group(1), m.end()
        quoted = i < n and text[i] == "'"
        i += quoted
        chars = []
        while i < n and (text[i] != "'" if quoted else not text[i].isspace()):
            if text[i] == "\\" and i + 1 < n:
                i += 1
            chars.append(text[i])
            i += 1
        if quoted:
            if i >= n:
                raise _bad(f"unterminated quoted value of {key}")
            i += 1
        elif not chars:
            raise _bad(f"{key}= has no value")
        value = "".join(chars)
        params.append((key, value))


def parse_catalog(value: str) -> Catalog:
    """Parse the ``lake_catalog`` setting (see the module doc); a bad value is a ConfigError."""
    text = value.strip()
    if not text:
        raise _bad("empty; leave it unset for the embedded catalog file")
    lowered = text.lower()
    if lowered.startswith(("postgres://", "postgresql://")):
        return _from_url(text)
    if lowered.startswith(("postgres:", "postgresql:")):
        return Catalog("postgres", params=_check(parse_conninfo(text.split(":", 1)[1])))
    if lowered.startswith("sqlite:"):
        path = text[len("sqlite:"):]
        if not path:
            raise _bad("sqlite: needs a file path (sqlite:/var/lib/kasoku/catalog.sqlite)")
        return Catalog("sqlite", path=path)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):", text)
    if scheme is not None:  # (two letters at least: a Windows drive letter is a path)
        raise _bad(f"unsupported catalog kind {scheme.group(1)!r}: use a SQLite file path or a PostgreSQL "
                   "URL (postgres://user:password@host:5432/dbname)")
    return Catalog("sqlite", path=text)
