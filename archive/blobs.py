"""Write-once, content-addressed file store.

A blob is named by the SHA-256 of its bytes, computed while the bytes are written (one read of the
input). Writes go to a temporary file in the store, are fsynced, made read-only and renamed into
place, so a crash leaves either nothing or a complete file. Blobs are 0400 and their folders 0700:
no other local account may read evidence about survivors. The interface is deliberately narrow
(put a stream, open, exists, delete, iterate) so that encryption at rest or an object store can wrap
it without touching callers.

Callers never read a store's own files: they get a stream (``open``), or, for a tool that needs a
path (exiftool, a video decoder), ``local_copy``: a context manager yielding a private local path to
the plain bytes that is gone when the block ends. The local store lends its own read-only file; any
other store (encrypted, object store, memory) writes a private temporary copy and removes it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from archive.errors import StorageError

__all__ = [
    "BlobRetained",
    "BlobStore",
    "BlobTooLarge",
    "LocalBlobStore",
    "MemoryBlobStore",
    "PutResult",
    "hash_stream",
    "read_all",
    "temp_copy",
]

CHUNK = 1 << 20
HEX = frozenset("0123456789abcdef")


class BlobTooLarge(StorageError):
    """The stream was longer than the limit given to ``put``; nothing was stored."""


class BlobRetained(StorageError):
    """``delete`` could not remove the bytes: the store keeps them under a retention period or a legal
    hold (S3 Object Lock). The blob is hidden from every read; the bytes go when the lock ends."""

    def __init__(self, sha256: str, retain_until: datetime | None, legal_hold: bool) -> None:
        self.sha256 = sha256
        self.retain_until = retain_until
        self.legal_hold = legal_hold
        why = "a legal hold" if legal_hold else f"retention until {retain_until:%Y-%m-%d}"
        super().__init__(f"{sha256}: the object store keeps its bytes under {why} (hidden from every read)")


@dataclass(frozen=True)
class PutResult:
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored
    head: bytes  # the first bytes, for type sniffing without a second read


class BlobStore(Protocol):
    def put(self, stream: BinaryIO, limit: int | None = None) -> PutResult: ...
    def open(self, sha256: str) -> BinaryIO: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...
    def hashes(self) -> Iterator[str]: ...
    def rehash(self, sha256: str) -> str | None: ...
    def local_copy(self, sha256: str) -> AbstractContextManager[Path]: ...
    def locate(self, sha256: str) -> str: ...


def read_all(store: BlobStore, sha256: str) -> bytes:
    """The whole plain content of one blob (for small files: sidecars, records, thumbnails)."""
    with store.open(sha256) as stream:
        return stream.read()


@contextmanager
def temp_copy(store: BlobStore, sha256: str, scratch: Path | None = None) -> Iterator[Path]:
    """A private (0600) temporary file holding the plain bytes of one blob, removed on exit.

    ``scratch`` is the folder to write in (None: the system's temporary folder); an encrypted home
    passes a memory-backed folder so that plain bytes never reach its disk.
    """
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=scratch, prefix="blob-")
    try:
        with os.fdopen(fd, "wb") as out, store.open(sha256) as stream:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _check_name(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= HEX:
        raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    return sha256


def hash_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class LocalBlobStore:
    """Blobs under ``root/ab/cd/<sha256>``, read-only on disk."""

    HEAD_BYTES = 8192

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".incoming"
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, sha256: str) -> Path:
        name = _check_name(sha256)
        return self.root / name[:2] / name[2:4] / name

    def put(self, stream: BinaryIO, limit: int | None = None) -> PutResult:
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        try:
            digest, size, head = self._copy(stream, fd, limit)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp_name)
            raise
        os.close(fd)
        return self._commit(Path(tmp_name), digest, size, head)

    def _copy(self, stream: BinaryIO, fd: int, limit: int | None) -> tuple[str, int, bytes]:
        digest = hashlib.sha256()
        size = 0
        head = b""
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if limit is not None and size > limit:
                raise BlobTooLarge(f"larger than the limit of {limit} bytes")
            if len(head) < self.HEAD_BYTES:
                head += chunk[: self.HEAD_BYTES - len(head)]
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        return digest.hexdigest(), size, head

    def _commit(self, tmp: Path, sha256: str, size: int, head: bytes) -> PutResult:
        return commit_file(tmp, self.path(sha256), PutResult(sha256, size, True, head))

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        path = self.path(sha256)
        if path.exists():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            path.unlink()
            _fsync_dir(path.parent)

    def hashes(self) -> Iterator[str]:
        for path in sorted(self.root.glob("??/??/*")):
            if len(path.name) == 64:
                yield path.name

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the stored bytes now, or None when the file is missing."""
        try:
            with self.open(sha256) as stream:
                return hash_stream(stream)
        except FileNotFoundError:
            return None

    @contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """The stored file itself (read-only, 0400): no copy is needed for plain local blobs."""
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(sha256)
        yield path

    def locate(self, sha256: str) -> str:
        """Where the stored bytes are, for messages and capture manifests."""
        return str(self.path(sha256))

    def clean_incoming(self) -> int:
        """Remove temporary files left by an interrupted put; they were never visible blobs."""
        removed = 0
        for leftover in self.tmp.glob("put-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


class MemoryBlobStore:
    """An in-memory store with the same contract, for tests of code that only needs a BlobStore."""

    def __init__(self, scratch: Path | None = None) -> None:
        self._blobs: dict[str, bytes] = {}
        self.scratch = scratch

    def put(self, stream: BinaryIO, limit: int | None = None) -> PutResult:
        data = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise BlobTooLarge(f"larger than the limit of {limit} bytes")
        sha = hashlib.sha256(data).hexdigest()
        created = sha not in self._blobs
        self._blobs.setdefault(sha, data)
        return PutResult(sha, len(data), created, data[: LocalBlobStore.HEAD_BYTES])

    def open(self, sha256: str) -> BinaryIO:
        try:
            return io.BytesIO(self._blobs[_check_name(sha256)])
        except KeyError:
            raise FileNotFoundError(sha256) from None

    def exists(self, sha256: str) -> bool:
        return sha256 in self._blobs

    def delete(self, sha256: str) -> None:
        self._blobs.pop(sha256, None)

    def hashes(self) -> Iterator[str]:
        yield from sorted(self._blobs)

    def rehash(self, sha256: str) -> str | None:
        data = self._blobs.get(sha256)
        return None if data is None else hashlib.sha256(data).hexdigest()

    def local_copy(self, sha256: str) -> AbstractContextManager[Path]:
        if not self.exists(sha256):
            raise FileNotFoundError(sha256)
        return temp_copy(self, sha256, self.scratch)

    def locate(self, sha256: str) -> str:
        return f"memory:{_check_name(sha256)}"


def commit_file(tmp: Path, final: Path, stored: PutResult) -> PutResult:
    """Move a finished temporary file to its final name (read-only, durable), unless a file is already
    there: then the temporary one goes and the result says nothing new was stored."""
    if final.exists():
        tmp.unlink()
        return PutResult(stored.sha256, stored.size, False, stored.head)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp.chmod(stat.S_IRUSR)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return stored


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
