"""An archive home: one folder with the database and the blob store, plus a signing key kept elsewhere.

``Home.open`` is the single way in. Writes happen in ``home.transaction(actor, via)``: events are
appended to the custody log inside the same database transaction as the rows they describe, and a
signed checkpoint closes it, so a crash leaves either the whole act or none of it.

Everything in a home is private to the account that runs the workbench: files 0600 (blobs 0400),
folders 0700, whatever the umask. Opening a home sets the process's umask to 077, because files are
written there by many hands (SQLite's -wal/-shm, exports, thumbnails, uploads, the browser's staging
folder) and a mode passed at each of them would be missed somewhere; a home made before this rule
has its modes tightened once, when it is next opened.

Every local folder the workbench writes is named once, in ``AREAS``, with whether it holds item
content (erasure must reach it) and whether it is private (encryption at rest must cover it). Code
asks ``home.area(NAME)`` for a folder instead of joining paths onto the home's root.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from archive.blobs import BlobStore, LocalBlobStore
from archive.blobs_age import AgeBlobStore
from archive.custody import CustodyLog, read_witness
from archive.db import Database
from archive.errors import ConfigError
from archive.keys import DataKey, Keyring, Locked
from archive.memory import memory_root
from archive.migrate import upgrade
from archive.model import CustodyEvent
from archive.signing import Signer, load_key, load_or_create_key
from archive.timestamps import Stamper, tsa_config

__all__ = [
    "AREAS",
    "Area",
    "Home",
    "HomeError",
    "Transaction",
    "memory_root",
    "read_info",
    "record_database",
    "url_without_password",
]

HOME_FORMAT = "wb-home/1"
ENCRYPTED_OBJECT_STORE = (
    "an encrypted home keeps its blobs age-encrypted in its own folder: WB_BLOB_URL (an object store) cannot"
    " be used with it yet; use a plain home with the store's server-side encryption (docs/deploy.md)"
)
ENCRYPTION_SCHEME = "wb-age-sqlcipher/1"  # age blobs with keyed names, SQLCipher 4 database
CONVERTING = "encrypting.json"  # present while `wb encrypt` converts the home (archive.convert)
PRIVATE_UMASK = 0o077
STAMP_WAIT_S = 15.0  # how long closing a home waits for a token being fetched (it is retried later)


class HomeError(ConfigError):
    """The home folder is missing, or not an archive home."""


@dataclass(frozen=True)
class Area:
    """One local folder of a home."""

    name: str
    relpath: str  # under the home's root
    item_content: bool  # holds bytes of, or derived from, stored items: erasure must reach it
    rebuildable: bool  # a cache: may be deleted at any time and is made again when next used
    purpose: str

    @property
    def in_memory_when_encrypted(self) -> bool:
        # Browser profiles hold investigators' login cookies: not item content, but never plain on disk.
        return (self.item_content or self.name == "profiles") and self.name != "blobs"


AREAS: dict[str, Area] = {
    a.name: a
    for a in (
        Area("blobs", "blobs", True, False, "the blob store's files (originals and derived files)"),
        Area("index", "index", True, True, "rebuildable indexes and caches (parent of the next ones)"),
        Area("neardup", "index", True, True, "per-case near-duplicate indexes (neardup-case-N)"),
        Area("thumbs", "index/thumbs", True, True, "cached thumbnails of stored pictures"),
        Area("uploads", "index/uploads", True, False, "files uploaded in the app, waiting for their job"),
        Area("scratch", "index/scratch", True, True, "short-lived working copies (export stripping)"),
        Area("staging", "staging", True, False, "web captures waiting to be stored"),
        Area("exports", "exports", True, False, "evidence packages made in the app, awaiting download"),
        Area("profiles", "profiles", False, False, "browser login profiles (cookies) for captures"),
        Area("models", "models", False, False, "installed detector model packs"),
    )
}


@dataclass
class Transaction:
    """A database transaction that can append custody events."""

    conn: Connection
    log: CustodyLog
    actor: str
    via: str
    kept: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def event(self, action: str, **fields: Any) -> CustodyEvent:
        return self.log.append(self.conn, actor=self.actor, via=self.via, action=action, **fields)

    def event_kept(self, action: str, **fields: Any) -> CustodyEvent:
        """An event that is recorded even when this transaction rolls back (a refusal that ends it)."""
        self.kept.append((action, fields))
        return self.event(action, **fields)


class Home:
    def __init__(
        self,
        root: Path,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        home_id: str,
        tool_version: str,
    ) -> None:
        self.root = root
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.home_id = home_id
        self.data_key: DataKey | None = None  # set for an encrypted home (archive.keys)
        self.keyring: Keyring | None = None
        self.custody = CustodyLog(signer, tool_version, witness=signer.path.parent / "witness")
        self.stamper: Stamper | None = None  # set when a time-stamping authority is configured

    # -- life cycle ----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        root: Path,
        key_path: Path,
        tool_version: str,
        db_url: str | None = None,
        blobs: BlobStore | None = None,
        data_key: DataKey | None = None,
    ) -> Home:
        """Create the home (idempotent) and the signing key when absent.

        ``blobs`` replaces the local blob folder (an object store, a memory store in tests).
        ``data_key`` makes a new home encrypted at rest under that key, or unlocks an existing
        encrypted one (``archive.keys``).
        """
        private_files()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        make_private(root)
        marker = root / "home.json"
        if not marker.exists():
            info: dict[str, Any] = {"format": HOME_FORMAT, "home_id": uuid.uuid4().hex}
            if db_url:
                info["database"] = url_without_password(db_url)
            if data_key is not None:
                info["encryption"] = {"scheme": ENCRYPTION_SCHEME, "check": data_key.check_value()}
            marker.write_text(json.dumps(info))
        elif data_key is not None and not read_info(root).get("encryption"):
            raise HomeError(f"{root} is a plain home: `wb encrypt` converts it in place")
        signer = load_or_create_key(key_path)
        home = cls._assemble(root, signer, tool_version, db_url, blobs, data_key)
        _upgrade(home)
        home.configure_stamping()
        return home

    @classmethod
    def open(
        cls,
        root: Path,
        key_path: Path,
        tool_version: str,
        db_url: str | None = None,
        blobs: BlobStore | None = None,
        data_key: DataKey | None = None,
    ) -> Home:
        """Open an existing home; ``blobs`` and ``data_key`` as for ``init``.

        Raises ``archive.keys.Locked`` for an encrypted home without its key, and ``WrongKey`` for
        a key that is not this home's.
        """
        if not (root / "home.json").is_file():
            raise HomeError(f"no archive home at {root}: run `wb init` first")
        private_files()
        make_private(root)
        home = cls._assemble(root, load_key(key_path), tool_version, db_url, blobs, data_key)
        _upgrade(home)
        home.configure_stamping()
        return home

    @classmethod
    def _assemble(
        cls,
        root: Path,
        signer: Signer,
        tool_version: str,
        db_url: str | None,
        blobs: BlobStore | None,
        data_key: DataKey | None,
    ) -> Home:
        info = read_info(root)
        if (root / CONVERTING).exists():
            raise HomeError(f"`wb encrypt` was interrupted on {root}: run it again to finish")
        home_id = str(info["home_id"])
        sealed = info.get("encryption")
        # WB_DATABASE_URL, else the database the home was made on or moved to (`wb migrate`), else SQLite.
        url = db_url or info.get("database")
        if not sealed:
            db = Database(str(url)) if url else Database.for_home(root)
            store = blobs if blobs is not None else LocalBlobStore(root / AREAS["blobs"].relpath)
            return cls(root, db, store, signer, home_id, tool_version)
        if data_key is None:
            raise Locked(f"the home at {root} is encrypted: log in first: wb login NAME")
        keyring = Keyring(root, home_id, str(sealed["check"]))
        keyring.check_key(data_key)
        db = Database(str(url)) if url else Database.for_home(root, data_key.derive("sqlcipher"))
        scratch = memory_root(home_id) / AREAS["scratch"].relpath
        if blobs is not None:  # its plain bytes would leave the home unencrypted
            raise HomeError(ENCRYPTED_OBJECT_STORE)
        blobs = AgeBlobStore(root / AREAS["blobs"].relpath, data_key, scratch)
        home = cls(root, db, blobs, signer, home_id, tool_version)
        home.data_key, home.keyring = data_key, keyring
        return home

    @property
    def encrypted(self) -> bool:
        return self.data_key is not None

    def configure_stamping(self) -> None:
        """Trusted timestamps (opt-in): stamp checkpoints when a TSA is configured, else nothing."""
        with self.db.connect() as conn:
            config = tsa_config(conn)
        self.stamper = None if config is None else Stamper(self.db, config)

    def close(self) -> None:
        if self.stamper is not None:
            self.stamper.wait(STAMP_WAIT_S)
        self.db.dispose()
        if isinstance(self.blobs, AgeBlobStore):
            self.blobs.close()  # its plain copies of recently stored files

    def area(self, name: str) -> Path:
        """The folder of one named area (``AREAS``), made private when absent.

        In an encrypted home every area of item content but the blobs (which are age files) lives in
        a memory-backed folder (``memory_root``), so no plain bytes reach the disk.
        """
        area = AREAS[name]
        base = memory_root(self.home_id) if self.encrypted and area.in_memory_when_encrypted else self.root
        path = base / area.relpath
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    @property
    def index_dir(self) -> Path:
        """Rebuildable indexes and caches (near-duplicate index, thumbnails)."""
        return self.area("index")

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def transaction(self, actor: str, via: str = "cli") -> Iterator[Transaction]:
        checkpoint: Mapping[str, Any] | None = None
        tx: Transaction | None = None
        try:
            with self.db.begin() as conn:
                tx = Transaction(conn, self.custody, actor, via)
                yield tx
                checkpoint = self.custody.checkpoint(conn)
        except BaseException:
            if tx is not None and tx.kept:
                self._write_kept(tx)
            raise
        if checkpoint is not None:
            self.custody.write_witness(checkpoint, self.home_id)
            if self.stamper is not None:
                self.stamper.kick()

    def _write_kept(self, rolled_back: Transaction) -> None:
        """After a rollback, record the events that must survive it, in a transaction of their own."""
        with contextlib.suppress(SQLAlchemyError), self.transaction(rolled_back.actor, rolled_back.via) as tx:
            for action, fields in rolled_back.kept:
                tx.event(action, **fields)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.db.connect() as conn:
            yield conn

    def witness(self) -> dict[str, Any] | None:
        if self.custody.witness is None:
            return None
        return read_witness(self.custody.witness / f"{self.home_id}.json")


def _upgrade(home: Home) -> None:
    """Bring the schema up to date; a database that cannot be reached (a server down, a wrong
    address) is a configuration error with one clear line, not a traceback."""
    try:
        upgrade(home.db)
    except OperationalError as exc:
        home.db.dispose()
        why = str(exc.orig or exc).strip().splitlines()[0]
        raise HomeError(f"cannot use the database {url_without_password(home.db.url)}: {why}") from None


def url_without_password(url: str) -> str:
    """A database URL fit for home.json: the password comes from the environment (WB_DATABASE_URL,
    PGPASSWORD or ~/.pgpass), never from a file in the home."""
    # Not ``URL.set(password=None)``: ``set`` leaves a field it is given None for unchanged.
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


def record_database(root: Path, url: str) -> None:
    """Name the home's database in home.json (after `wb migrate` moved it)."""
    marker = root / "home.json"
    info = json.loads(marker.read_text())
    info["database"] = url_without_password(url)
    staged = marker.with_suffix(".json.new")
    staged.write_text(json.dumps(info))
    os.replace(staged, marker)


def record_blobs(root: Path, url: str) -> None:
    """Name the object store that holds the home's blobs in home.json (``WB_BLOB_URL``, no secrets), so
    that a process started without it cannot quietly use the home's empty local folder instead."""
    marker = root / "home.json"
    info = json.loads(marker.read_text())
    info["blobs"] = url
    staged = marker.with_suffix(".json.new")
    staged.write_text(json.dumps(info))
    os.replace(staged, marker)


def read_info(root: Path) -> dict[str, Any]:
    """The home's marker file (home.json): its format, id and, when encrypted, the key's check."""
    try:
        info = json.loads((root / "home.json").read_text())
    except (OSError, ValueError) as exc:
        raise HomeError(f"{root / 'home.json'} is unreadable: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != HOME_FORMAT:
        raise HomeError(f"{root} is not an archive home (unknown format)")
    return info


def private_files() -> None:
    """From now on this process creates files 0600 and folders 0700 at most (umask 077)."""
    os.umask(PRIVATE_UMASK)


def make_private(root: Path) -> None:
    """Take group and other permissions off everything under ``root``.

    Cheap when the home is already private (one stat of the root): the walk runs only for a home
    made before homes were private, or one whose modes someone loosened.
    """
    if not root.is_dir() or stat.S_IMODE(root.stat().st_mode) & 0o077 == 0:
        return
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
