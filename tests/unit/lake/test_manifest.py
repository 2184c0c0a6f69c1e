"""Manifest format, input validation, S3 option parsing and the grace-period bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from kasoku.errors import ConfigError, InvalidParameter
from kasoku.lake.manifest import Manifest, Retired, check_month, check_table
from kasoku.lake.storage import Lake, S3Options


def test_manifest_json_round_trip() -> None:
    m = Manifest(3, "2024-05-01T00:00:00+00:00", {"plays": {"2024-02": ["p/b"], "2024-01": ["p/a"]}},
                 (Retired("p/old", 12.5),))
    back = Manifest.from_json(m.to_json())
    assert back == m and back.months("plays") == ["2024-01", "2024-02"]
    assert back.files("plays", ["2024-02", "1999-01"]) == ["p/b"] and back.referenced() == {"p/a", "p/b"}
    with pytest.raises(TypeError):
        back.tables["plays"]["2024-03"] = ("x",)  # type: ignore[index]


def test_manifest_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="format"):
        Manifest.from_json(b'{"format": 99, "version": 1}')


@pytest.mark.parametrize("month", ["2024-13", "2024-00", "24-01", "2024-1", "2024/01", "", None])
def test_bad_months(month: object) -> None:
    with pytest.raises(InvalidParameter):
        check_month(month)  # type: ignore[arg-type]


@pytest.mark.parametrize("table", ["../etc", "a/b", "_kasoku", "", "1abc", "x" * 64])
def test_bad_tables(table: str) -> None:
    with pytest.raises(InvalidParameter):
        check_table(table)


def test_good_names() -> None:
    assert check_month("2024-12") == ("2024", "12") and check_table("top_tracks_3m") == "top_tracks_3m"


@pytest.mark.parametrize(("endpoint", "use_ssl", "expected"), [
    (None, True, (None, True)),
    ("localhost:9000", False, ("localhost:9000", False)),
    ("https://acct.r2.cloudflarestorage.com", False, ("acct.r2.cloudflarestorage.com", True)),
    ("http://127.0.0.1:5000/", True, ("127.0.0.1:5000", False)),
])
def test_s3_endpoint_parsing(endpoint: str | None, use_ssl: bool, expected: tuple[str | None, bool]) -> None:
    assert S3Options(endpoint=endpoint, use_ssl=use_ssl).host_and_ssl() == expected


def test_secrets_not_in_repr() -> None:
    assert "hunter2" not in repr(S3Options(access_key_id="id", secret_access_key="hunter2"))


@pytest.mark.parametrize("url", ["gs://bucket/x", "s3:///nobucket"])
def test_bad_lake_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        Lake(url)


def test_file_url_and_relative_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = Lake("lake")
    via_url = Lake(f"file://{tmp_path / 'lake'}")
    rel.commit({"t": {"2024-01": pa.table({"x": [1]})}})
    via_url.refresh()
    assert via_url.files("t") == rel.files("t") and rel.files("t")[0].startswith(str(tmp_path))


def test_retired_files_expire_after_grace(tmp_path: Path) -> None:
    now = [100.0]
    lake = Lake(str(tmp_path), grace_seconds=10, clock=lambda: now[0])
    lake.commit({"t": {"2024-01": pa.table({"x": [1]})}})
    first = lake.manifest().files("t")
    lake.commit({"t": {"2024-01": pa.table({"x": [2]})}})
    assert [r.path for r in lake.manifest().retired] == first and lake.vacuum() == 0
    now[0] += 10
    assert lake.vacuum() == 1  # vacuum honours the same grace
    done = lake.commit({"t": {"2024-02": pa.table({"x": [3]})}})
    assert done.files_removed == 0 and lake.manifest().retired == ()  # already gone: pruned from the list


def test_max_age_refreshes_cached_manifest(tmp_path: Path) -> None:
    writer = Lake(str(tmp_path))
    always = Lake(str(tmp_path), max_age=0.0)
    cached = Lake(str(tmp_path))
    writer.commit({"t": {"2024-01": pa.table({"x": [1]})}})
    assert always.months("t") == ["2024-01"] and cached.months("t") == []
