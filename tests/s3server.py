"""Helpers for tests on the S3 server of the services harness (``s3_endpoint`` in tests/services.py)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from tests.services import S3_CREDENTIALS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3_CREDENTIALS", "new_bucket", "s3_client"]


def s3_client(endpoint: str) -> S3Client:
    """A plain boto3 client for the test server, as an operator's own tool would use."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )


def new_bucket(endpoint: str, lock: bool = False) -> str:
    """A fresh bucket of the test's own (with Object Lock, and so versioning, when asked)."""
    name = f"wb-{uuid.uuid4().hex[:20]}"
    s3_client(endpoint).create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name
