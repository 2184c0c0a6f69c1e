"""What a lake physically holds (local directory or S3 bucket), for tests that check files come and go."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import boto3

from kasoku.lake.ducklake import Lake


def data_files(lake: Lake) -> set[str]:
    """Every Parquet file under the lake's data path, catalogued or not."""
    if not lake.is_s3:
        root = lake.data_path
        return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs if f.endswith(".parquet")}
    assert lake.s3 is not None
    parsed = urlparse(lake.data_path)
    host, ssl = lake.s3.host_and_ssl()
    client = boto3.client("s3", endpoint_url=f"{'https' if ssl else 'http'}://{host}", aws_access_key_id=lake.s3.access_key_id,
                          aws_secret_access_key=lake.s3.secret_access_key, region_name=lake.s3.region)
    try:
        prefix = parsed.path.lstrip("/")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix)
        return {o["Key"][len(prefix):] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")}
    finally:
        client.close()
