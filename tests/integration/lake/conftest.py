"""Lake contract fixtures: the same tests run on a local directory and on S3 (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasoku.lake.ducklake import Lake
from tests.conftest import S3Lake


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """An empty lake: a local directory, or a moto bucket with a local SQLite catalog."""
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    target: S3Lake = request.getfixturevalue("s3_lake_url")
    return target.lake()
