"""Converting a plain home into an encrypted one in place (``wb encrypt``), resumable after a crash.

The steps, each safe to run again after a crash at any point (``kill -9`` included):

1. blobs: each plain file is read and hashed (the hash must be its name), written as an age file
   under its keyed name (temp file + fsync + rename), that age file is decrypted and re-hashed, and
   only then is the plain file removed;
2. database: the write-ahead log is folded in, the database is copied with SQLCipher's
   ``sqlcipher_export`` into a new file, the copy's row counts are compared with the original's and
   SQLCipher's integrity check run on it, and only then is it renamed over the plain file;
3. working areas: caches are dropped (rebuilt when next used) and the uploads, staging and exports
   awaiting download move to the memory-backed folder (``archive.home.memory_root``);
4. ``home.json`` is marked encrypted: the switch. Until then ``encrypting.json`` makes every other
   command refuse the home ("run wb encrypt again to finish").

A conversion cannot scrub the disk blocks that held the plain files (a journaling file system or an
SSD keeps old copies): docs/custody.md says what follows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlcipher3

from archive.blobs import HEX, LocalBlobStore, _fsync_dir
from archive.blobs_age import AgeBlobStore
from archive.errors import IntegrityError
from archive.home import AREAS, CONVERTING, ENCRYPTION_SCHEME, HOME_FORMAT, memory_root, read_info
from archive.keys import DataKey

__all__ = ["MARK", "ConvertError", "convert_areas", "convert_blobs", "convert_database", "finish", "start"]

MARK = CONVERTING
PLAIN_HEADER = b"SQLite format 3\x00"


class ConvertError(IntegrityError):
    """The conversion stopped before changing anything more (a blob that does not match its name, a
    copy that does not match its database)."""


def start(root: Path, key: DataKey) -> None:
    """Mark the home as being converted (before the first file changes)."""
    _write_json(root / MARK, {"check": key.check_value()})


def convert_blobs(root: Path, key: DataKey, progress: Callable[[str], None] | None = None) -> int:
    """Seal every plain blob (step 1); returns how many were converted now."""
    folder = root / AREAS["blobs"].relpath
    plain = LocalBlobStore(folder)
    plain.clean_incoming()  # a put cut short by a crash: never a visible blob
    sealed = AgeBlobStore(folder, key, memory_root(read_info(root)["home_id"]) / "index" / "scratch")
    done = 0
    for path in sorted(folder.glob("??/??/*")):
        sha = path.name
        if len(sha) != 64 or not set(sha) <= HEX:
            continue  # an age file (its name ends in .age) or something not ours
        with path.open("rb") as stream:
            put = sealed.put(stream)
        if put.sha256 != sha:
            if put.created:
                sealed.delete(put.sha256)
            raise ConvertError(f"{path} hashes to {put.sha256}, not its name: run wb verify; it stays plain")
        if sealed.rehash(sha) != sha:
            raise ConvertError(f"the sealed copy of {sha} does not decrypt to the same bytes; it stays plain")
        plain.delete(sha)
        done += 1
        if progress is not None:
            progress(f"sealed {sha}")
    return done


def _raw_key(key: DataKey) -> str:
    return f"\"x'{key.derive('sqlcipher').hex()}'\""


def _counts(conn: Any, schema: str = "main") -> dict[str, int]:
    """Rows per table; the names come from the database's own schema (our tables), not from input."""
    listing = f"SELECT name FROM {schema}.sqlite_master WHERE type='table' ORDER BY name"  # noqa: S608
    names = [str(r[0]) for r in conn.execute(listing)]
    count = 'SELECT count(*) FROM {}."{}"'
    return {n: int(conn.execute(count.format(schema, n.replace('"', '""'))).fetchone()[0]) for n in names}


def convert_database(root: Path, key: DataKey) -> bool:
    """Replace the plain database by an encrypted copy (step 2); False when it is encrypted already."""
    path = root / "archive.sqlite3"
    with path.open("rb") as fh:
        if fh.read(16) != PLAIN_HEADER:
            return False
    copy = root / "archive.sqlite3.encrypting"
    copy.unlink(missing_ok=True)
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = _counts(conn)
        conn.execute(f"ATTACH DATABASE '{copy}' AS sealed KEY {_raw_key(key)}")
        conn.execute("SELECT sqlcipher_export('sealed')")
        after = _counts(conn, "sealed")
        conn.execute("DETACH DATABASE sealed")
    finally:
        conn.close()
    if after != before:
        copy.unlink(missing_ok=True)
        raise ConvertError("the encrypted copy of the database does not hold the same rows; it stays plain")
    _check_copy(copy, key)
    for leftover in ("archive.sqlite3-wal", "archive.sqlite3-shm"):
        (root / leftover).unlink(missing_ok=True)  # empty after the checkpoint; they belong to the plain file
    os.replace(copy, path)
    _fsync_dir(root)
    return True


def _check_copy(copy: Path, key: DataKey) -> None:
    conn = sqlcipher3.connect(str(copy), isolation_level=None)
    try:
        conn.execute(f"PRAGMA key = {_raw_key(key)}")
        problems = [r[0] for r in conn.execute("PRAGMA cipher_integrity_check")]
        problems += [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
    finally:
        conn.close()
    fd = os.open(copy, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if problems:
        copy.unlink(missing_ok=True)
        raise ConvertError(f"the encrypted copy of the database fails its check: {problems[0]}")


def convert_areas(root: Path) -> None:
    """Drop the caches and move the other working areas into memory (step 3)."""
    memory = memory_root(read_info(root)["home_id"])
    for area in AREAS.values():
        source = root / area.relpath
        if not area.in_memory_when_encrypted or area.rebuildable or not source.is_dir():
            continue
        target = memory / area.relpath
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for entry in sorted(source.iterdir()):
            shutil.move(str(entry), str(target / entry.name))
    for area in AREAS.values():
        if area.in_memory_when_encrypted and (root / area.relpath).exists():
            shutil.rmtree(root / area.relpath, ignore_errors=True)


def finish(root: Path, key: DataKey) -> None:
    """Mark the home encrypted (step 4, the switch) and end the conversion."""
    info = read_info(root)
    if info.get("format") != HOME_FORMAT:
        raise ConvertError(f"{root} is not an archive home")
    info["encryption"] = {"scheme": ENCRYPTION_SCHEME, "check": key.check_value()}
    _write_json(root / "home.json", info)
    (root / MARK).unlink(missing_ok=True)
    _fsync_dir(root)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
