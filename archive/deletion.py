"""Erasure with a tombstone (RET-02): content and personal fields go, the custody chain stays.

The item keeps its id, its original SHA-256, when it was deleted, by whom, who approved, and why.
A blob is removed from disk when no live item uses it any more. Events carry only a hash of the
reason, because the reason itself may name a person.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import and_, select

from archive.db import artifacts, fingerprints, item_artifacts, items, sightings, users, utcnow
from archive.home import Home

__all__ = ["DeletionError", "delete_item"]


class DeletionError(Exception):
    """The deletion was not allowed or the item does not exist."""


def delete_item(
    home: Home, item_id: str, reason: str, actor: str, approved_by: str, via: str = "cli"
) -> list[str]:
    """Tombstone an item; returns the SHA-256 of each blob removed from disk."""
    if not reason.strip():
        raise DeletionError("a deletion needs a reason (legal basis)")
    if not approved_by.strip() or approved_by == actor:
        raise DeletionError("a deletion needs approval by a second person (--approved-by another user)")
    with home.transaction(actor, via) as tx:
        _check_approver(tx.conn, approved_by)
        row = tx.conn.execute(select(items).where(items.c.id == item_id)).mappings().first()
        if row is None:
            raise DeletionError(f"no item {item_id!r}")
        if row["deleted_at"] is not None:
            raise DeletionError(f"item {item_id} was already deleted on {row['deleted_at']:%Y-%m-%d}")
        now = utcnow()
        tx.conn.execute(
            items.update()
            .where(items.c.id == item_id)
            .values(
                deleted_at=now,
                deleted_by=actor,
                deletion_approved_by=approved_by,
                deletion_reason=reason,
                title=None,
            )
        )
        tx.conn.execute(
            sightings.update()
            .where(sightings.c.item_id == item_id)
            .values(url=None, account=None, original_name=None, details={})
        )
        orphans = _orphaned_blobs(tx.conn, item_id)
        for sha in orphans:
            tx.conn.execute(artifacts.update().where(artifacts.c.sha256 == sha).values(removed_at=now))
            # A perceptual hash describes the picture: it goes with the content.
            tx.conn.execute(fingerprints.delete().where(fingerprints.c.artifact_sha256 == sha))
            tx.event(
                "artifact.removed",
                case_id=row["case_id"],
                item_id=item_id,
                artifact_sha256=sha,
                before_sha256=sha,
            )
        tx.event(
            "item.deleted",
            case_id=row["case_id"],
            item_id=item_id,
            artifact_sha256=row["sha256"],
            details={
                "approved_by": approved_by,
                "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
            },
        )
    for sha in orphans:
        home.blobs.delete(sha)
    return orphans


def _orphaned_blobs(conn, item_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    mine = {
        r.sha256
        for r in conn.execute(select(item_artifacts.c.sha256).where(item_artifacts.c.item_id == item_id))
    }
    live_elsewhere = {
        r.sha256
        for r in conn.execute(
            select(item_artifacts.c.sha256)
            .join(items, items.c.id == item_artifacts.c.item_id)
            .where(
                and_(
                    item_artifacts.c.sha256.in_(mine),
                    items.c.id != item_id,
                    items.c.deleted_at.is_(None),
                )
            )
        )
    }
    return sorted(mine - live_elsewhere)


def _check_approver(conn, approved_by: str) -> None:  # type: ignore[no-untyped-def]
    """Once the installation has accounts, the approver must be an active legal or admin account."""
    if conn.execute(select(users.c.id).limit(1)).first() is None:
        return
    row = conn.execute(select(users.c.role, users.c.active).where(users.c.name == approved_by)).first()
    if row is None or not row.active or row.role not in ("legal", "admin"):
        raise DeletionError(f"{approved_by!r} is not an active legal or admin account: approval needs one")
