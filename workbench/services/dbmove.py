"""Move a home's database to another engine (`wb migrate --to URL`; admins): SQLite to PostgreSQL for a
team, or back. Copied row for row (archive/dbcopy.py), proved equal table by table, the custody chain and
every file verified against the new database, then the home names it (home.json) and the old SQLite
file is removed, so that an erasure later reaches every copy (``keep_source`` keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from archive.db import Database
from archive.dbcopy import CopyMismatch, TableDigest, copy_database
from archive.errors import ConfigError
from archive.home import Home, record_database, url_without_password
from archive.verify import verify
from workbench.services.auth import Account, Perm, can, refuse

__all__ = ["BadTarget", "CopyMismatch", "Moved", "move_database"]


ENCRYPTED = (
    "this home is encrypted: its database stays in the home (SQLCipher); another database would hold its "
    "rows unencrypted"
)


class BadTarget(ConfigError):
    """The target URL is malformed, unreachable or not empty; nothing was changed."""


@dataclass
class Moved:
    target: str  # without its password
    tables: dict[str, TableDigest]
    events: int
    blobs: int
    source_removed: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.tables.values())


def move_database(
    home: Home, by: Account, target_url: str, keep_source: bool = False, via: str = "cli"
) -> Moved:
    """Copy, verify, switch the home to ``target_url`` and record ``database.migrated`` there."""
    if not can(by, Perm.MAINTAIN):
        raise refuse(home, by, Perm.MAINTAIN, via)
    if home.encrypted:
        raise BadTarget(ENCRYPTED)
    target = _open_target(target_url, home)
    try:
        tables = copy_database(home.db, target)
    except SQLAlchemyError as exc:
        target.dispose()
        raise BadTarget(
            f"cannot write to {url_without_password(target_url)}: {exc.__class__.__name__}"
        ) from None
    except CopyMismatch:
        target.dispose()
        raise
    except Exception as exc:
        target.dispose()
        raise BadTarget(str(exc)) from None
    moved = Home(home.root, target, home.blobs, home.signer, home.home_id, home.custody.tool_version)
    report = verify(moved)
    if not report.intact:
        target.dispose()
        raise CopyMismatch(f"the copy does not verify: {report.problems[0].problem}")
    with moved.transaction(by.name, via) as tx:
        tx.event("database.migrated", details={"engine": target.engine.dialect.name, "rows": tables.rows})
    target.dispose()
    record_database(home.root, target.url)
    done = Moved(url_without_password(target.url), tables.tables, report.events + 1, report.blobs)
    if not keep_source:
        done.source_removed = _remove_sqlite(home)
    return done


def _open_target(url: str, home: Home) -> Database:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadTarget(f"not a database URL: {url_without_password(url) if '://' in url else url}") from None
    try:
        db = Database(parsed.render_as_string(hide_password=False))
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise BadTarget(f"cannot use {url_without_password(url)}: {exc}") from None
    if db.url == home.db.url:
        raise BadTarget("the target is the home's own database")
    return db


def _remove_sqlite(home: Home) -> list[str]:
    """The SQLite file the home used before (and its -wal, -shm), once the copy verified."""
    url = make_url(home.db.url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    home.db.dispose()
    main = Path(url.database)
    removed = []
    for path in (main, main.with_name(main.name + "-wal"), main.with_name(main.name + "-shm")):
        if path.exists():
            path.unlink()
            removed.append(str(path))
    return removed
