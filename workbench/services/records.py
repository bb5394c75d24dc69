"""An item's stored facts as an account may read them: its files, its sightings, its indicators.

Each call checks visibility through the access core (a refusal is logged and raises AccessDenied);
the item page shows what these return and reads nothing of its own.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive.blobs import BlobStore
from archive.db import artifacts, flags, item_artifacts, sightings
from archive.home import Home
from archive.sniff import sniff
from workbench.services import access, viewing
from workbench.services.auth import AccessDenied, Account, Perm, refuse

__all__ = ["Download", "item_files", "item_flags", "item_sightings", "open_download"]

Row = dict[str, Any]


def item_files(home: Home, by: Account, item_id: str, via: str = "app") -> list[Row]:
    """The item's files (role, SHA-256, type, size, operation), by role."""
    access.authorise(home, by, item_id, Perm.READ, via)
    q = (
        select(
            item_artifacts.c.role,
            artifacts.c.sha256,
            artifacts.c.mime,
            artifacts.c.size,
            artifacts.c.operation,
        )
        .join(artifacts, artifacts.c.sha256 == item_artifacts.c.sha256)
        .where(item_artifacts.c.item_id == item_id)
        .order_by(item_artifacts.c.role)
    )
    with home.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def item_sightings(home: Home, by: Account, item_id: str, via: str = "app") -> list[Row]:
    """Every time and place the item was seen, oldest first (the addresses and ids of a page hidden
    from the account, in the details of a sighting on that page, withheld)."""
    access.authorise(home, by, item_id, Perm.READ, via)
    q = select(sightings).where(sightings.c.item_id == item_id).order_by(sightings.c.seen_at)
    with home.reading() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
        return list(access.withhold_hidden_media(conn, by, item_id, rows))


def item_flags(home: Home, by: Account, item_id: str, via: str = "app") -> list[Row]:
    """The indicators recorded on the item's files."""
    access.authorise(home, by, item_id, Perm.READ, via)
    q = (
        select(flags)
        .join(item_artifacts, item_artifacts.c.sha256 == flags.c.input_sha256)
        .where(item_artifacts.c.item_id == item_id)
        .order_by(flags.c.id)
    )
    with home.reading() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


class Download:
    """One stored file on its way to a browser: its store, its type by its bytes, its role."""

    def __init__(self, blobs: BlobStore, mime: str, role: str, sha256: str) -> None:
        self.blobs, self.mime, self.role, self.sha256 = blobs, mime, role, sha256

    def local_copy(self) -> AbstractContextManager[Path]:
        """A private local path to the plain bytes while the block lasts (``BlobStore.local_copy``)."""
        return self.blobs.local_copy(self.sha256)


def open_download(home: Home, by: Account, token: str, via: str = "app") -> Download | None:
    """The file a download link names, for the account the link was made for, if it may still see
    the item and its bytes; logged as ``media.downloaded``. None (a refusal logged where there was
    one) otherwise: the caller answers "not found" and learns nothing more."""
    checked = viewing.check_file_token(token)
    if checked is None:
        return None
    account_id, item_id, sha256 = checked
    if account_id != by.id:
        refuse(home, by, Perm.READ, via, item_id=item_id[:32])
        return None
    with home.reading() as conn:
        linked = conn.execute(
            select(item_artifacts.c.role).where(
                item_artifacts.c.item_id == item_id, item_artifacts.c.sha256 == sha256
            )
        ).first()
    if linked is None:
        return None
    try:
        access.log_access(home, by, item_id, "media.downloaded", via, artifact_sha256=sha256)
    except AccessDenied:
        return None
    with home.blobs.open(sha256) as fh:
        mime = sniff(fh.read(4096))
    return Download(home.blobs, mime, str(linked.role), sha256)
