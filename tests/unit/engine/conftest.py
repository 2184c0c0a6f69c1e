from __future__ import annotations

import pytest

from tests.fakes import Clock, CountingSource

__all__ = ["Clock", "CountingSource"]


@pytest.fixture
def clock() -> Clock:
    return Clock()
