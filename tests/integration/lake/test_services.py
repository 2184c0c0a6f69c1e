"""The service fixtures themselves: Redis restarts on the same port, each test gets its own db."""

from __future__ import annotations

import boto3
import redis

from tests.conftest import S3Lake
from tests.services import RedisServer, S3Endpoint


def test_redis_restart_on_same_port(redis_server: RedisServer, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=1)
    try:
        assert client.ping() and client.set("k", "v")
        port = redis_server.port
        redis_server.stop()
        assert not redis_server.ping()
        redis_server.start()
        assert redis_server.port == port and redis.Redis.from_url(redis_url).ping()
        assert client.get("k") is None  # no persistence: a restart is a cold cache
    finally:
        client.close()


def test_redis_url_left_stopped_is_restarted(redis_server: RedisServer) -> None:
    redis_server.stop()  # the next test's redis_url must bring it back


def test_redis_url_is_flushed_and_private(redis_url: str, redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert redis_server.running and client.dbsize() == 0
        client.set("mine", "1")
    finally:
        client.close()


def test_s3_lake_url_gives_fresh_bucket(s3_server: S3Endpoint, s3_lake_url: S3Lake) -> None:
    bucket = s3_lake_url.url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key_id,
                          aws_secret_access_key=s3_server.secret_access_key, region_name=s3_server.region)
    try:
        assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    finally:
        client.close()
    assert s3_lake_url.url.endswith("/lake") and s3_lake_url.s3.use_ssl is False
