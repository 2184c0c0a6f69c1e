"""The lake's committed state: which Parquet files make up each table partition.

The manifest is the single source of truth for readers. Data files are written first
and the manifest is replaced in one step afterwards, so whatever a reader sees through
the manifest is a complete commit; files the manifest does not name are invisible.

On disk (``<root>/_kasoku/manifest.json``)::

    {"format": 1, "version": 7, "updated_at": "2024-05-01T02:00:03.123456+00:00",
     "tables": {"plays": {"2024-04": ["plays/year=2024/month=04/part-<uuid>.parquet"]}},
     "retired": [{"path": "plays/year=2024/month=04/part-<old>.parquet", "since": 1714528803.1}]}

``retired`` lists files a commit stopped referencing but kept for a grace period, so a
reader still holding the previous manifest (a server that has not refreshed yet, a query
in flight) can finish reading them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kasoku.errors import InvalidParameter

FORMAT = 1
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def check_month(month: str) -> tuple[str, str]:
    """Validate a ``YYYY-MM`` partition key and return ``(year, month)`` strings."""
    m = MONTH_RE.match(month) if isinstance(month, str) else None
    if m is None:
        raise InvalidParameter(f"partition month must look like 'YYYY-MM', got {month!r}",
                               details={"month": repr(month)})
    return m.group(1), m.group(2)


def check_table(table: str) -> str:
    """Table names become directory names: keep them to a safe identifier (no ``/``, no ``..``)."""
    if not isinstance(table, str) or TABLE_RE.match(table) is None:
        raise InvalidParameter(f"table name must be a letter followed by letters, digits or '_', got {table!r}",
                               details={"table": repr(table)})
    return table


@dataclass(frozen=True)
class Retired:
    """A file no longer referenced since ``since`` (epoch seconds); deleted after the grace period."""

    path: str
    since: float


@dataclass(frozen=True)
class Manifest:
    """An immutable snapshot of the committed lake. Safe to share between threads."""

    version: int = 0
    updated_at: str | None = None
    tables: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    retired: tuple[Retired, ...] = ()

    def __post_init__(self) -> None:
        # Freeze the nested mappings: snapshots are handed to reader threads.
        frozen = {t: MappingProxyType({m: tuple(fs) for m, fs in sorted(parts.items())})
                  for t, parts in sorted(self.tables.items())}
        object.__setattr__(self, "tables", MappingProxyType(frozen))

    def months(self, table: str) -> list[str]:
        return sorted(self.tables.get(table, {}))

    def files(self, table: str, months: list[str] | None = None) -> list[str]:
        """Relative file paths of ``table`` (for ``months`` if given), in month order."""
        parts = self.tables.get(table, {})
        keys = sorted(parts) if months is None else sorted(set(months) & set(parts))
        return [f for m in keys for f in parts[m]]

    def referenced(self) -> set[str]:
        return {f for parts in self.tables.values() for fs in parts.values() for f in fs}

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": self.version,
            "updated_at": self.updated_at,
            "tables": {t: {m: list(fs) for m, fs in parts.items()} for t, parts in self.tables.items()},
            "retired": [{"path": r.path, "since": r.since} for r in self.retired],
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse a manifest; anything unexpected is an error rather than a silently empty lake."""
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"unsupported lake manifest format: {doc.get('format') if isinstance(doc, dict) else doc!r}")
        tables = {str(t): {str(m): tuple(str(f) for f in fs) for m, fs in parts.items()}
                  for t, parts in doc.get("tables", {}).items()}
        retired = tuple(Retired(str(r["path"]), float(r["since"])) for r in doc.get("retired", []))
        return cls(version=int(doc["version"]), updated_at=doc.get("updated_at"), tables=tables, retired=retired)
