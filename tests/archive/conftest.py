"""Fixtures for the archive tests: a real S3 server for the object-store backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3server import moto_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint
