"""The write-once blob store in an S3-compatible object store (MinIO, Ceph RGW, AWS S3), team mode.

A blob is the object ``PREFIX/<sha256>``. ``put`` reads the stream once: it hashes, enforces the
size limit and spools to a private temporary file (in memory up to one part, on disk beyond), so
nothing reaches the store until the name is known and the limit held; then the object is written
once, a small one in a single PUT that carries its SHA-256 for the store to check and refuses to
replace an existing object (``If-None-Match: *``), a large one as a multipart upload. No file is
ever held whole in memory, going up or coming down (``open`` streams by ranges).

Object Lock: with a lock mode (compliance or governance) and a retention period, every object is
written with its own retention date, so the store itself refuses to delete or replace that version
before the date, whoever asks, the workbench's administrators included. A bucket whose own default
retention applies is equally honoured. Erasure then meets the lock: ``delete`` removes every
version the store lets it remove and, for a version still under retention or a legal hold, hides
it behind a delete marker and raises ``BlobRetained`` naming the date, so the caller can record
that the bytes outlive the erasure until then (docs/deploy.md, "Object Lock and erasure").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from archive.blobs import CHUNK, BlobRetained, BlobTooLarge, PutResult, hash_stream, temp_copy
from archive.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BlobRetained", "Lock", "S3BlobStore", "S3ConfigError"]

PART = 8 << 20  # multipart part size, and the most a put holds in memory
HEAD_BYTES = 8192
_SHA = re.compile(r"[0-9a-f]{64}")
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_LOCK_MODES = {"compliance": "COMPLIANCE", "governance": "GOVERNANCE"}


class S3ConfigError(ConfigError):
    """WB_BLOB_URL or its settings are wrong, or the bucket cannot do what they ask."""


@dataclass(frozen=True)
class Lock:
    """Object Lock for new objects: mode COMPLIANCE or GOVERNANCE, and days of retention."""

    mode: str
    days: int
    bypass_governance: bool = False  # erasure may lift GOVERNANCE retention (needs that permission)

    def until(self, now: dt.datetime | None = None) -> dt.datetime:
        return (now or dt.datetime.now(dt.UTC)) + dt.timedelta(days=self.days)


def lock_from_env(environ: Mapping[str, str]) -> Lock | None:
    """WB_BLOB_LOCK_MODE (compliance|governance|none), WB_BLOB_RETENTION_DAYS, WB_BLOB_GOVERNANCE_BYPASS."""
    raw = environ.get("WB_BLOB_LOCK_MODE", "").strip().lower()
    if raw in ("", "none", "off"):
        return None
    if raw not in _LOCK_MODES:
        raise S3ConfigError(f"WB_BLOB_LOCK_MODE must be compliance, governance or none, not {raw!r}")
    days_text = environ.get("WB_BLOB_RETENTION_DAYS", "")
    if not days_text.isdigit() or int(days_text) < 1:
        raise S3ConfigError(
            "WB_BLOB_LOCK_MODE needs WB_BLOB_RETENTION_DAYS, a whole number of days (1 or more)"
        )
    bypass = environ.get("WB_BLOB_GOVERNANCE_BYPASS", "").lower() in ("1", "true", "yes")
    return Lock(_LOCK_MODES[raw], int(days_text), bypass)


class S3BlobStore:
    """Blobs as objects ``PREFIX/<sha256>`` in one bucket; the same contract as LocalBlobStore."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        lock: Lock | None = None,
        scratch: Path | None = None,
        part_size: int = PART,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lock = lock
        self.scratch = scratch
        self.part_size = part_size
        # A part is read from the spooled file as it is sent: at most ``max_concurrency`` parts in memory.
        self._transfer = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=4
        )

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str] | None = None) -> S3BlobStore:
        """``s3://BUCKET/PREFIX``; endpoint and credentials from AWS_* (boto3's own variables)."""
        env = os.environ if environ is None else environ
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/.*)?", url.strip())
        if not match:
            # Not repeated when it holds an "@": a key pasted into it would be printed back.
            shown = "(an address with credentials: give them in AWS_*)" if "@" in url else repr(url)
            raise S3ConfigError(f"WB_BLOB_URL must look like s3://BUCKET/PREFIX, not {shown}")
        client = boto3.client(
            "s3",
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5}),
        )
        store = cls(client, match.group(1), (match.group(2) or "").strip("/"), lock_from_env(env))
        store.check()
        return store

    def check(self) -> None:
        """Fail now, clearly, when the bucket is unreachable or cannot lock what the settings ask."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise S3ConfigError(f"bucket {self.bucket!r}: {_error_text(exc)}") from None
        if self.lock is not None and not self.bucket_lock_enabled():
            raise S3ConfigError(
                f"WB_BLOB_LOCK_MODE asks for Object Lock but bucket {self.bucket!r} was not created with it"
            )

    def bucket_lock_enabled(self) -> bool:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError:
            return False
        return conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    # -- names ---------------------------------------------------------------------------------

    def key(self, sha256: str) -> str:
        if not _SHA.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return f"{self.prefix}/{sha256}" if self.prefix else sha256

    def locate(self, sha256: str) -> str:
        """Where the bytes are, for messages and capture manifests."""
        return f"s3://{self.bucket}/{self.key(sha256)}"

    # -- writing -------------------------------------------------------------------------------

    def put(self, stream: BinaryIO, limit: int | None = None) -> PutResult:
        with _Spool(self.part_size, self.scratch) as spool:
            digest, size, head = spool.fill(stream, limit)
            if self.exists(digest):
                return PutResult(digest, size, False, head)
            created = self._write(spool, digest, size)
        return PutResult(digest, size, created, head)

    def _write(self, spool: _Spool, sha256: str, size: int) -> bool:
        """Write the object once; False when another writer stored the same bytes first."""
        extra: dict[str, Any] = {}
        if self.lock is not None:
            extra = {"ObjectLockMode": self.lock.mode, "ObjectLockRetainUntilDate": self.lock.until()}
        if spool.path is None:
            checksum = _b64(bytes.fromhex(sha256))
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.key(sha256),
                    Body=spool.memory.getvalue(),
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                    IfNoneMatch="*",
                    **extra,
                )
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                raise
            return True
        # Multipart: every part carries a CRC the store checks; the whole is re-read by rehash.
        self.client.upload_file(
            str(spool.path),
            self.bucket,
            self.key(sha256),
            ExtraArgs={"ChecksumAlgorithm": "CRC32", **extra},
            Config=self._transfer,
        )
        return True

    # -- reading -------------------------------------------------------------------------------

    def open(self, sha256: str) -> BinaryIO:
        """A seekable reader of the current version, fetched in ranges: never the whole object at once."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(self.locate(sha256)) from None
            raise
        raw = _RangeReader(
            self.client, self.bucket, self.key(sha256), head.get("VersionId"), head["ContentLength"]
        )
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=CHUNK))

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def hashes(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        names = (obj["Key"][len(start) :] for page in pages for obj in page.get("Contents", []))
        yield from sorted(name for name in names if _SHA.fullmatch(name))

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the stored bytes now (streamed), or None when the object is missing."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        with body:
            return hash_stream(cast(BinaryIO, body))

    def local_copy(self, sha256: str) -> AbstractContextManager[Path]:
        """A private temporary file with the bytes, for tools that need a path; removed on exit."""
        return temp_copy(self, sha256, self.scratch)

    # -- erasure -------------------------------------------------------------------------------

    def delete(self, sha256: str) -> None:
        """Remove every version of the object; a version the lock keeps is hidden, then BlobRetained."""
        key = self.key(sha256)
        kept: list[dict[str, Any]] = []
        # Sent only when set: some servers read any value of the header, "false" too, as a bypass.
        bypass: dict[str, Any] = {}
        if self.lock is not None and self.lock.bypass_governance:
            bypass["BypassGovernanceRetention"] = True
        for version in self._versions(key):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=version, **bypass)
            except ClientError as exc:
                if _code(exc) != "AccessDenied":
                    raise
                kept.append(self._lock_of(key, version))
        if kept:
            self.client.delete_object(Bucket=self.bucket, Key=key)  # a delete marker: no reader finds it
            dates = [k["until"] for k in kept if k["until"] is not None]
            raise BlobRetained(sha256, max(dates) if dates else None, any(k["hold"] for k in kept))

    def _versions(self, key: str) -> list[str]:
        """Every version id and delete marker of exactly this key (a bucket without versioning: 'null')."""
        found: list[str] = []
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key)
        for page in pages:
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if entry.get("Key") == key:
                    found.append(entry.get("VersionId") or "null")
        return found

    def _lock_of(self, key: str, version: str) -> dict[str, Any]:
        head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=version)
        return {
            "until": head.get("ObjectLockRetainUntilDate"),
            "hold": head.get("ObjectLockLegalHoldStatus") == "ON",
        }


class _RangeReader(io.RawIOBase):
    """Reads one object version by HTTP ranges: sequential reads share one response, a seek starts another."""

    def __init__(self, client: S3Client, bucket: str, key: str, version: str | None, size: int) -> None:
        self._client, self._bucket, self._key, self._version = client, bucket, key, version
        self._size = size
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            self._reopen()
        data = self._body.read(len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        self._pos += len(data)
        self._body_pos = self._pos
        return len(data)

    def _reopen(self) -> None:
        if self._body is not None:
            self._body.close()
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key, "Range": f"bytes={self._pos}-"}
        if self._version and self._version != "null":
            args["VersionId"] = self._version  # the version seen at open: a later write can't splice in
        self._body = self._client.get_object(**args)["Body"]
        self._body_pos = self._pos

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


class _Spool:
    """Holds a put's bytes until their name is known: one part in memory, a private file beyond."""

    def __init__(self, part_size: int, scratch: Path | None) -> None:
        self.part_size = part_size
        self.scratch = scratch
        self.memory = io.BytesIO()
        self.path: Path | None = None
        self._file: IO[bytes] | None = None

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def fill(self, stream: BinaryIO, limit: int | None) -> tuple[str, int, bytes]:
        """Copy the stream in, hashing and counting; BlobTooLarge past ``limit`` (nothing was sent)."""
        digest = hashlib.sha256()
        size = 0
        head = b""
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if limit is not None and size > limit:
                raise BlobTooLarge(f"larger than the limit of {limit} bytes")
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            digest.update(chunk)
            self._write(chunk, size)
        if self._file is not None:
            self._file.close()
            self._file = None
        return digest.hexdigest(), size, head

    def _write(self, chunk: bytes, size: int) -> None:
        if self._file is None and size > self.part_size:
            fd, name = tempfile.mkstemp(dir=self.scratch, prefix="put-")
            self.path = Path(name)
            self._file = os.fdopen(fd, "wb")
            self._file.write(self.memory.getvalue())
            self.memory = io.BytesIO()
        if self._file is not None:
            self._file.write(chunk)
        else:
            self.memory.write(chunk)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _error_text(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', '') or 'no answer from the store'}"
