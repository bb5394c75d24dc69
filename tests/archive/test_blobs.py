"""The write-once store: hashed while written, never overwritten, same contract on disk, in memory and
in an S3 object store (a real moto server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from archive.blobs import BlobStore, BlobTooLarge, LocalBlobStore, MemoryBlobStore
from archive.blobs_age import AgeBlobStore
from archive.keys import DataKey
from archive.s3blobs import S3BlobStore
from tests.s3server import new_bucket, s3_client


@pytest.fixture(params=["local", "memory", "age", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "age":  # an encrypted home's store
        return AgeBlobStore(tmp_path / "blobs", DataKey.generate(), tmp_path / "scratch")
    if request.param == "memory":
        return MemoryBlobStore()
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3BlobStore(s3_client(endpoint), new_bucket(endpoint), "case-files", scratch=tmp_path)


def test_put_names_the_blob_by_its_sha256(store: BlobStore) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    result = store.put(io.BytesIO(data))
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) and result.created
    with store.open(result.sha256) as fh:
        assert fh.read() == data


def test_second_put_of_same_bytes_stores_nothing_new(store: BlobStore) -> None:
    first = store.put(io.BytesIO(b"evidence"))
    second = store.put(io.BytesIO(b"evidence"))
    assert first.sha256 == second.sha256 and not second.created
    assert list(store.hashes()) == [first.sha256]


def test_a_stream_over_the_limit_is_refused_and_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        store.put(io.BytesIO(b"x" * 100), limit=99)
    assert list(store.hashes()) == []


def test_local_copy_is_a_private_path_to_the_plain_bytes(store: BlobStore) -> None:
    sha = store.put(io.BytesIO(b"photo bytes")).sha256
    with store.local_copy(sha) as path:
        assert path.read_bytes() == b"photo bytes"
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    if not isinstance(store, LocalBlobStore):  # the local store lends its own read-only file
        assert not path.exists()
    with pytest.raises(FileNotFoundError), store.local_copy("0" * 64):
        pass
    where = store.locate(sha)
    assert (sha not in where) if isinstance(store, AgeBlobStore) else (sha[:12] in where)


def test_rehash_reports_changed_and_missing_blobs(store: BlobStore) -> None:
    sha = store.put(io.BytesIO(b"abc")).sha256
    assert store.rehash(sha) == sha
    store.delete(sha)
    assert store.rehash(sha) is None
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)


def test_local_blobs_are_read_only_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    sha = store.put(io.BytesIO(b"abc")).sha256
    mode = store.path(sha).stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list(store.tmp.iterdir()) == []


def test_names_that_are_not_hashes_are_never_paths(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_an_age_blob_is_ciphertext_under_a_keyed_name_and_a_flipped_byte_is_caught(tmp_path: Path) -> None:
    store = AgeBlobStore(tmp_path / "blobs", DataKey.generate(), tmp_path / "scratch")
    data = b"\xff\xd8\xff\xe1" + os.urandom(200_000)
    sha = store.put(io.BytesIO(data)).sha256
    path = store.path(sha)
    sealed = path.read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1") and data[:64] not in sealed and sha not in str(path)
    other = AgeBlobStore(tmp_path / "blobs", DataKey.generate(), tmp_path / "scratch")
    assert other.path(sha) != path  # the name depends on the key, not on the hash alone
    path.chmod(0o600)
    path.write_bytes(sealed[:-100] + bytes([sealed[-100] ^ 1]) + sealed[-99:])
    now = store.rehash(sha)  # from the stored file, never from the plain copy kept after the put
    assert now is not None and now != sha
    assert list((tmp_path / "blobs" / ".incoming").iterdir()) == []
    assert list((tmp_path / "scratch").glob("recent-*"))
    store.close()
    assert list((tmp_path / "scratch").iterdir()) == []  # no plain copy outlives the store
