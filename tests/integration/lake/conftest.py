"""Lake contract fixtures: the same tests run on a local directory and on S3 (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kasoku.lake.storage import Lake, S3Options
from tests.conftest import S3Lake


@pytest.fixture(params=["local", "s3"])
def lake_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, S3Options | None]:
    """(url, s3 options) of an empty lake; ``s3_lake_url`` is only started for the s3 case."""
    if request.param == "local":
        return str(tmp_path / "lake"), None
    target: S3Lake = request.getfixturevalue("s3_lake_url")
    return target.url, target.s3


@pytest.fixture
def lake(lake_target: tuple[str, S3Options | None]) -> Iterator[Lake]:
    """An empty lake that removes replaced files at once (grace 0) so tests can see deletions."""
    url, s3 = lake_target
    yield Lake(url, s3, grace_seconds=0)
