"""The S3 blob store against a real S3 server (moto on 127.0.0.1): streaming both ways, and Object Lock
answered by the store itself."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archive.s3blobs import BlobRetained, Lock, S3BlobStore, S3ConfigError
from tests.s3server import S3_CREDENTIALS, new_bucket, s3_client

MIB = 1 << 20


class Generated(io.RawIOBase):
    """``size`` bytes made on the fly, so the test itself never holds the whole file."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.digest = hashlib.sha256()
        self.counter = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, MIB)
        if n == 0:
            return 0
        block = (hashlib.sha256(self.counter.to_bytes(8, "big")).digest() * (n // 32 + 1))[:n]
        self.counter += 1
        buffer[:n] = block
        self.digest.update(block)
        self.left -= n
        return n


def store_on(endpoint: str, tmp_path: Path, lock: Lock | None = None) -> S3BlobStore:
    bucket = new_bucket(endpoint, lock=lock is not None)
    return S3BlobStore(s3_client(endpoint), bucket, "wb", lock=lock, scratch=tmp_path, part_size=5 * MIB)


def test_a_large_file_goes_up_in_parts_and_comes_down_in_ranges_never_whole_in_memory(
    s3_endpoint: str, tmp_path: Path
) -> None:
    store = store_on(s3_endpoint, tmp_path)
    size = 16 * MIB + 3
    source = Generated(size)
    tracemalloc.start()
    try:
        result = store.put(io.BufferedReader(source, MIB))
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with store.open(result.sha256) as fh:
            while chunk := fh.read(MIB):
                digest.update(chunk)
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.sha256 == source.digest.hexdigest() and result.size == size
    assert digest.hexdigest() == result.sha256 == store.rehash(result.sha256)
    # Parts of 5 MiB (several in flight) are held, never the 16 MiB file.
    assert peak_up < size and peak_down < size // 2, (peak_up, peak_down)
    upload = s3_client(s3_endpoint).head_object(
        Bucket=store.bucket, Key=store.key(result.sha256), PartNumber=1
    )
    assert upload.get("PartsCount", 1) > 1  # a multipart upload, not one PUT


def test_a_stored_zip_reads_through_seeks_and_a_local_copy(s3_endpoint: str, tmp_path: Path) -> None:
    store = store_on(s3_endpoint, tmp_path)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("a.txt", "first")
        zf.writestr("b.txt", "second" * 1000)
    sha = store.put(io.BytesIO(packed.getvalue())).sha256
    with store.open(sha) as fh, zipfile.ZipFile(fh) as zf:  # the central directory is at the end
        assert zf.read("b.txt") == b"second" * 1000 and zf.read("a.txt") == b"first"
    with store.local_copy(sha) as path:
        assert path.read_bytes() == packed.getvalue() and path.parent == tmp_path
    assert not path.exists()
    assert store.locate(sha) == f"s3://{store.bucket}/wb/{sha}"


def test_compliance_lock_the_store_refuses_delete_and_overwrite_of_the_version(
    s3_endpoint: str, tmp_path: Path
) -> None:
    store = store_on(s3_endpoint, tmp_path, Lock("COMPLIANCE", 30))
    sha = store.put(io.BytesIO(b"original evidence")).sha256
    raw = s3_client(s3_endpoint)
    key = store.key(sha)
    head = raw.head_object(Bucket=store.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=29)
    version = head["VersionId"]
    # The store's own answers, to anyone with the bucket's credentials (not our code refusing):
    with pytest.raises(ClientError) as denied:
        raw.delete_object(Bucket=store.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        raw.put_object(Bucket=store.bucket, Key=key, Body=b"forged", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    # An unconditional PUT only stacks a new version on top: the locked bytes stay, and fixity sees it.
    raw.put_object(Bucket=store.bucket, Key=key, Body=b"forged")
    assert store.rehash(sha) == hashlib.sha256(b"forged").hexdigest() != sha
    kept = raw.get_object(Bucket=store.bucket, Key=key, VersionId=version)["Body"].read()
    assert kept == b"original evidence"


def test_erasure_under_compliance_hides_the_blob_and_says_until_when(
    s3_endpoint: str, tmp_path: Path
) -> None:
    store = store_on(s3_endpoint, tmp_path, Lock("COMPLIANCE", 30))
    sha = store.put(io.BytesIO(b"to be erased")).sha256
    with pytest.raises(BlobRetained) as kept:
        store.delete(sha)
    assert kept.value.sha256 == sha and not kept.value.legal_hold
    assert kept.value.retain_until is not None and kept.value.retain_until.date() > dt.date.today()
    assert not store.exists(sha) and store.rehash(sha) is None and sha not in set(store.hashes())
    versions = s3_client(s3_endpoint).list_object_versions(Bucket=store.bucket, Prefix=store.key(sha))
    assert len(versions["Versions"]) == 1  # the bytes are still in the store, as the lock demands


def test_governance_lock_yields_to_erasure_only_with_the_bypass_setting(
    s3_endpoint: str, tmp_path: Path
) -> None:
    strict = store_on(s3_endpoint, tmp_path, Lock("GOVERNANCE", 30))
    sha = strict.put(io.BytesIO(b"governed")).sha256
    with pytest.raises(BlobRetained):
        strict.delete(sha)
    bypass = S3BlobStore(strict.client, strict.bucket, "wb", Lock("GOVERNANCE", 30, bypass_governance=True))
    bypass.delete(sha)
    versions = s3_client(s3_endpoint).list_object_versions(Bucket=strict.bucket, Prefix=strict.key(sha))
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []


def test_a_legal_hold_outlasts_governance_bypass(s3_endpoint: str, tmp_path: Path) -> None:
    store = store_on(s3_endpoint, tmp_path, Lock("GOVERNANCE", 1, bypass_governance=True))
    sha = store.put(io.BytesIO(b"held for court")).sha256
    store.client.put_object_legal_hold(Bucket=store.bucket, Key=store.key(sha), LegalHold={"Status": "ON"})
    with pytest.raises(BlobRetained) as kept:
        store.delete(sha)
    assert kept.value.legal_hold


def test_configuration_errors_are_clear(s3_endpoint: str) -> None:
    env = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}
    plain = new_bucket(s3_endpoint)
    with pytest.raises(S3ConfigError, match="not created with it"):
        S3BlobStore.from_url(
            f"s3://{plain}/p", {**env, "WB_BLOB_LOCK_MODE": "compliance", "WB_BLOB_RETENTION_DAYS": "7"}
        )
    with pytest.raises(S3ConfigError, match="WB_BLOB_RETENTION_DAYS"):
        S3BlobStore.from_url(f"s3://{plain}/p", {**env, "WB_BLOB_LOCK_MODE": "governance"})
    with pytest.raises(S3ConfigError, match="NoSuchBucket|404"):
        S3BlobStore.from_url("s3://no-such-bucket-here/p", env)
    with pytest.raises(S3ConfigError, match="s3://BUCKET/PREFIX"):
        S3BlobStore.from_url("s3://UPPER_case/p", env)
    locked = new_bucket(s3_endpoint, lock=True)
    store = S3BlobStore.from_url(
        f"s3://{locked}/team/", {**env, "WB_BLOB_LOCK_MODE": "compliance", "WB_BLOB_RETENTION_DAYS": "7"}
    )
    assert store.prefix == "team" and store.lock == Lock("COMPLIANCE", 7)
