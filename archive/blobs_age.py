"""The blob store of an encrypted home: each blob an age file under a keyed name.

Same contract as ``LocalBlobStore`` (write-once, named by the SHA-256 of the plain bytes, hashed while
written, temp file + fsync + rename), with two differences on disk:

- the bytes are an age file (X25519 recipient of the home's data key; age's STREAM of
  ChaCha20-Poly1305 chunks), so ``age -d -i KEYFILE FILE`` decrypts one blob with the standard tool;
- the file name is HMAC-SHA256 of the plain SHA-256 under a key derived from the data key, so a
  copied folder cannot confirm that a known photo is in it. The custody log and packages still
  carry the plain SHA-256.

Plain bytes never touch the home's disk: reads decrypt into memory (or a memory-backed scratch
folder for large files) and ``local_copy`` writes into that scratch folder.

The last few files this process stored stay in the scratch folder in plain (``RECENT``, each at most
``RECENT_MAX``): ingest reads a file again right after storing it (exiftool, fingerprints), and a
second and third age pass over every file would cost more than the encryption itself. ``close``
removes them; those of a process that died are swept by the next store opened on the same home.
``rehash`` never uses them: verification always decrypts the stored file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import pyrage

from archive.blobs import CHUNK, BlobTooLarge, PutResult, _check_name, _fsync_dir, commit_file, temp_copy
from archive.keys import DataKey

__all__ = ["AgeBlobStore"]

SPOOL_MAX = 32 << 20  # larger plain reads spill to the (memory-backed) scratch folder
RECENT = 4  # plain copies of the files this process stored last, kept for reads right after
RECENT_MAX = 128 << 20


class _HashingReader:
    """Reads a stream for age while hashing it, keeping its head and enforcing the size limit."""

    def __init__(self, stream: BinaryIO, limit: int | None, head_bytes: int) -> None:
        self.stream, self.limit, self.head_bytes = stream, limit, head_bytes
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.failure: BaseException | None = None
        self.tee: BinaryIO | None = None  # a plain copy for the RECENT cache, dropped when too large

    def read(self, n: int = -1) -> bytes:
        try:
            chunk = self.stream.read(CHUNK if n is None or n < 0 else min(n, CHUNK))
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise BlobTooLarge(f"larger than the limit of {self.limit} bytes")
        except BaseException as exc:  # pyrage wraps what read raises: keep it to raise as it was
            self.failure = exc
            raise
        if len(self.head) < self.head_bytes:
            self.head += chunk[: self.head_bytes - len(self.head)]
        self.digest.update(chunk)
        if self.tee is not None and self.size > RECENT_MAX:
            self._drop_tee()
        elif self.tee is not None:
            self.tee.write(chunk)
        return chunk

    def _drop_tee(self) -> None:
        assert self.tee is not None
        self.tee.truncate(0)
        self.tee = None


class _HashingWriter:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass


class AgeBlobStore:
    """Blobs as age files under ``root/ab/cd/<hmac>.age``, read-only on disk."""

    HEAD_BYTES = 8192

    def __init__(self, root: Path, key: DataKey, scratch: Path) -> None:
        self.root = root
        self.tmp = root / ".incoming"
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._recent: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()
        _sweep_recent(scratch)
        self._identity = key.age_identity()
        self._recipient = key.recipient()
        self._name_key = key.derive("blob-names")

    def name(self, sha256: str) -> str:
        """The file name of a blob: keyed, so it does not reveal the plain SHA-256."""
        return hmac.new(self._name_key, _check_name(sha256).encode(), hashlib.sha256).hexdigest()

    def path(self, sha256: str) -> Path:
        name = self.name(sha256)
        return self.root / name[:2] / name[2:4] / f"{name}.age"

    def put(self, stream: BinaryIO, limit: int | None = None) -> PutResult:
        reader = _HashingReader(stream, limit, self.HEAD_BYTES)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        tee_fd, tee_name = tempfile.mkstemp(dir=self.scratch, prefix=f"recent-{os.getpid()}-")
        try:
            with os.fdopen(fd, "wb") as out, os.fdopen(tee_fd, "wb") as tee:
                reader.tee = tee
                try:
                    pyrage.encrypt_io(reader, out, [self._recipient])
                except pyrage.EncryptError:
                    raise reader.failure or RuntimeError("age encryption failed") from None
                out.flush()
                os.fsync(out.fileno())
            result = self._commit(Path(tmp_name), reader.digest.hexdigest(), reader.size, reader.head)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            os.unlink(tee_name)
            raise
        if reader.tee is None:  # larger than RECENT_MAX: not kept
            os.unlink(tee_name)
        else:
            self._remember(result.sha256, Path(tee_name))
        return result

    def _remember(self, sha256: str, plain: Path) -> None:
        with self._lock:
            old = self._recent.pop(sha256, None)
            self._recent[sha256] = plain
            dropped = [old] if old is not None else []
            while len(self._recent) > RECENT:
                dropped.append(self._recent.popitem(last=False)[1])
        for path in dropped:
            path.unlink(missing_ok=True)

    def _recent_copy(self, sha256: str) -> Path | None:
        """A new hard link to the plain copy of a file stored just now (safe against its eviction)."""
        with self._lock:
            plain = self._recent.get(sha256)
            if plain is None:
                return None
            link = self.scratch / f"blob-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                os.link(plain, link)
            except OSError:
                return None
            return link

    def close(self) -> None:
        """Remove the plain copies of recently stored files."""
        with self._lock:
            paths, self._recent = list(self._recent.values()), OrderedDict()
        for path in paths:
            path.unlink(missing_ok=True)

    def _commit(self, tmp: Path, sha256: str, size: int, head: bytes) -> PutResult:
        return commit_file(tmp, self.path(sha256), PutResult(sha256, size, True, head))

    def open(self, sha256: str) -> BinaryIO:
        """The plain bytes, decrypted in memory (spilling to the memory-backed scratch folder)."""
        recent = self._recent_copy(sha256)
        if recent is not None:
            try:
                return recent.open("rb")  # the link goes at once; the open file stays readable
            finally:
                recent.unlink()
        self.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        plain = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX, mode="w+b", dir=str(self.scratch))
        with self.path(sha256).open("rb") as sealed:
            try:
                pyrage.decrypt_io(sealed, plain, [self._identity])
            except (pyrage.DecryptError, OSError) as exc:
                plain.close()
                raise OSError(f"blob {sha256} does not decrypt: {exc}") from None
        plain.seek(0)
        return cast(BinaryIO, plain)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        with self._lock:
            plain = self._recent.pop(sha256, None)
        if plain is not None:
            plain.unlink(missing_ok=True)
        path = self.path(sha256)
        if path.exists():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            path.unlink()
            _fsync_dir(path.parent)

    def hashes(self) -> Iterator[str]:
        """The plain SHA-256 of every blob: decrypts each one (slow; for checks and tests)."""
        found = []
        for path in self.root.glob("??/??/*.age"):
            writer = _HashingWriter()
            with path.open("rb") as sealed:
                pyrage.decrypt_io(sealed, writer, [self._identity])
            found.append(writer.digest.hexdigest())
        yield from sorted(found)

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of the decrypted bytes now; None when missing; a reason when they fail age's
        authentication (a changed byte anywhere in the file)."""
        writer = _HashingWriter()
        try:
            with self.path(sha256).open("rb") as sealed:
                pyrage.decrypt_io(sealed, writer, [self._identity])
        except FileNotFoundError:
            return None
        except (pyrage.DecryptError, OSError) as exc:  # pyrage reports a failed chunk as an OSError
            return f"(nothing: the file does not decrypt, {exc})"
        return writer.digest.hexdigest()

    def local_copy(self, sha256: str) -> AbstractContextManager[Path]:
        if not self.exists(sha256):
            raise FileNotFoundError(sha256)
        recent = self._recent_copy(sha256)
        if recent is not None:
            return _removed_after(recent)
        return temp_copy(self, sha256, self.scratch)

    def locate(self, sha256: str) -> str:
        return str(self.path(sha256))

    def clean_incoming(self) -> int:
        removed = 0
        for leftover in self.tmp.glob("put-*"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed


@contextmanager
def _removed_after(path: Path) -> Iterator[Path]:
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _sweep_recent(scratch: Path) -> None:
    """Plain copies left by processes that died without closing their store."""
    for path in scratch.glob("recent-*"):
        try:
            os.kill(int(path.name.split("-")[1]), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError):
            continue
