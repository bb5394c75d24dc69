"""Erasure by two accounts (RET-02): one opens a request, a different legal or admin account carries it out.

- ``request_deletion``: an analyst, legal or admin account that may see the item (and every item the
  erasure takes with it, see ``archive.deletion.erasure_set``) opens a request with a reason (the
  legal basis). One open request per item.
- ``approve_deletion``: a legal or admin account that may see those items, and is not the requester,
  approves; the purge runs at once (``archive.deletion``).
- ``withdraw_deletion``: the requester, or a legal or admin account that may see the item, ends an
  open request.
- ``pending_requests``: the open requests on items the account may see.
- ``tombstones``: what is left of an erased item, for ``wb log`` ("deleted on <date>", RET-02), as
  its case's members may see it.

The tombstone keeps the requester's and approver's account names (RET-02 asks for actor and approver):
they are the staff's custody record of who erased, not personal data of the item or of the people in
it, and the custody events carry only their ids. The reason (the legal basis) may name a person: only
legal and admin accounts are shown it.

Every step is a custody event holding ids only (``deletion.requested``, ``deletion.approved``,
``deletion.withdrawn``, then ``artifact.removed`` and ``item.deleted``). A refusal (wrong role, not a
member, not assigned to a sensitive item, approving one's own request) is one ``access.denied`` event
with the true channel, and the error names nothing about items the account may not see.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.blobs import BlobRetained
from archive.db import deletion_requests, items, users, utcnow
from archive.deletion import DeletionError, Purge, Tombstone, erasure_set, purge_rows, remove_files
from archive.home import Home
from archive.model import Classification, Role
from workbench.services.access import authorise, find_visible, visible_clause
from workbench.services.auth import AccessDenied, Account, Perm, can, deny, is_member

__all__ = [
    "APPROVERS",
    "REQUESTERS",
    "DeletionError",
    "DeletionRequest",
    "Deleted",
    "Erased",
    "approve_deletion",
    "open_request",
    "pending_requests",
    "request_deletion",
    "tombstones",
    "withdraw_deletion",
]

REQUESTERS = frozenset({Role.ANALYST, Role.LEGAL, Role.ADMIN})
APPROVERS = frozenset({Role.LEGAL, Role.ADMIN})
MAX_REASON = 2000


@dataclass(frozen=True)
class DeletionRequest:
    id: str
    item_id: str
    case_id: int
    reason: str
    status: str
    requested_by: int
    item_ids: tuple[str, ...]  # everything the approval would erase, the item first


@dataclass(frozen=True)
class Erased:
    request_id: str
    item_ids: list[str]
    blobs_removed: list[str]
    wal_truncated: bool
    # Files the object store keeps under Object Lock: hidden from every read, gone when the lock ends.
    retained: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Deleted:
    """An erased item as its case's members see it: what RET-02 keeps."""

    item_id: str
    sha256: str
    deleted_at: datetime
    requested_by: str | None
    approved_by: str | None
    reason: str | None  # the legal basis: legal and admin accounts only

    def as_record(self) -> dict[str, Any]:
        """The JSON form (``wb log --json``)."""
        return {
            "item_id": self.item_id,
            "sha256": self.sha256,
            "deleted": True,
            "deleted_at": self.deleted_at.isoformat(),
            "requested_by": self.requested_by,
            "approved_by": self.approved_by,
            "reason": self.reason,
        }


_SHA256 = re.compile(r"[0-9a-f]{64}")


def tombstones(home: Home, by: Account, ref: str) -> list[Deleted]:
    """The erased items named by ``ref`` (an item id, or an original's SHA-256) that ``by`` may know of:
    a member of the item's case with the read permission; of an item that was survivor-identifying,
    only legal and admin accounts (an unassigned member never knew it existed). Empty otherwise, and
    for a live item: the caller then asks the usual way (a refusal is logged there)."""
    ref = ref.strip().lower()
    column = items.c.sha256 if _SHA256.fullmatch(ref) else items.c.id
    if not can(by, Perm.READ):
        return []
    with home.reading() as conn:
        rows = conn.execute(select(items).where(column == ref, items.c.deleted_at.is_not(None))).mappings()
        found = [r for r in rows.all() if is_member(conn, by, int(r["case_id"]))]
    keeper = by.role in APPROVERS
    return [
        Deleted(
            str(r["id"]),
            str(r["sha256"]),
            r["deleted_at"],
            r["deleted_by"],
            r["deletion_approved_by"],
            r["deletion_reason"] if keeper else None,
        )  # fmt: skip
        for r in found
        if keeper or r["classification"] != Classification.SURVIVOR_IDENTIFYING.value
    ]


def _refused(home: Home, by: Account, perm: str, via: str, item_id: str, message: str) -> AccessDenied:
    """Log one ``access.denied`` in its own transaction and return the error to raise."""
    with home.transaction(by.name, via) as tx:
        deny(tx, by, perm, item_id=item_id[:32])
    return AccessDenied(message)


def _check(home: Home, by: Account, item_id: str, roles: frozenset[Role], perm: str, via: str) -> int:
    """Role first, then visibility of the item and of every item the erasure takes: the case id."""
    if not by.active or by.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise _refused(home, by, perm, via, item_id, f"only {allowed} accounts may {perm.replace('_', ' ')}")
    row = authorise(home, by, item_id, Perm.READ, via)  # a refusal here is logged by authorise
    with home.reading() as conn:
        hidden = [i for i in erasure_set(conn, row.id) if find_visible(conn, by, i) is None]
    if hidden:
        raise _refused(
            home, by, perm, via, item_id,
            "this item shares its files with restricted content you may not see: "
            "an account assigned to it must do this",
        )  # fmt: skip
    return row.case_id


def _request_row(conn: Connection, item_id: str) -> DeletionRequest | None:
    row = (
        conn.execute(
            select(deletion_requests)
            .where(deletion_requests.c.item_id == item_id, deletion_requests.c.status == "open")
            .order_by(deletion_requests.c.requested_at.desc())
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    mates = [i for i in erasure_set(conn, item_id) if i != item_id]
    return DeletionRequest(
        str(row["id"]), item_id, int(row["case_id"]), str(row["reason"]), str(row["status"]),
        int(row["requested_by"]), (item_id, *mates),
    )  # fmt: skip


def open_request(home: Home, by: Account, item_id: str, via: str = "app") -> DeletionRequest | None:
    """The open deletion request of an item the account may see, if any."""
    row = authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return _as_seen(conn, by, _request_row(conn, row.id))


def _as_seen(conn: Connection, by: Account, req: DeletionRequest | None) -> DeletionRequest | None:
    """The request as ``by`` may see it: the items it would take along that ``by`` may not see are
    left out (a page's request would otherwise name the hidden photo it holds)."""
    if req is None:
        return None
    seen = tuple(i for i in req.item_ids if i == req.item_id or find_visible(conn, by, i) is not None)
    return replace(req, item_ids=seen)


def pending_requests(home: Home, by: Account) -> list[DeletionRequest]:
    """Open requests on items this account may see (what awaits a second account), oldest first.

    The list holds nothing the account could not see item by item; it is empty for roles that may
    neither ask for nor approve an erasure.
    """
    if not by.active or by.role not in REQUESTERS | APPROVERS:
        return []
    with home.reading() as conn:
        q = (
            select(deletion_requests.c.item_id)
            .join(items, items.c.id == deletion_requests.c.item_id)
            .where(deletion_requests.c.status == "open", visible_clause(by))
            .order_by(deletion_requests.c.requested_at)
        )
        found = [_as_seen(conn, by, _request_row(conn, str(r[0]))) for r in conn.execute(q)]
    return [r for r in found if r is not None]


def request_deletion(home: Home, by: Account, item_id: str, reason: str, via: str = "app") -> DeletionRequest:
    """Open a deletion request; a second account must approve it (``approve_deletion``)."""
    clean = " ".join(reason.split())
    if not clean:
        raise DeletionError("a deletion needs a reason (the legal basis)")
    if len(clean) > MAX_REASON:
        raise DeletionError(f"the reason is longer than {MAX_REASON} characters")
    case_id = _check(home, by, item_id, REQUESTERS, "request_deletion", via)
    with home.transaction(by.name, via) as tx:
        if _request_row(tx.conn, item_id) is not None:
            raise DeletionError(f"item {item_id} already has an open deletion request")
        request_id = uuid.uuid4().hex
        tx.conn.execute(
            deletion_requests.insert().values(
                id=request_id, item_id=item_id, case_id=case_id, reason=clean, status="open",
                requested_by=by.id, requested_at=utcnow(), erased=erasure_set(tx.conn, item_id),
            )
        )  # fmt: skip
        tx.event("deletion.requested", case_id=case_id, item_id=item_id, details={"request_id": request_id})
        made = _request_row(tx.conn, item_id)
    assert made is not None
    return made


def _open_or_fail(home: Home, item_id: str) -> DeletionRequest:
    with home.reading() as conn:
        req = _request_row(conn, item_id)
    if req is None:
        raise DeletionError(
            f"item {item_id} has no open deletion request: open one first, with its reason", field="reason"
        )
    return req


def approve_deletion(home: Home, by: Account, item_id: str, via: str = "app") -> Erased:
    """Carry out the open request on the item: the purge, then the files, then the WAL (see archive)."""
    _check(home, by, item_id, APPROVERS, "approve_deletion", via)
    req = _open_or_fail(home, item_id)
    if req.requested_by == by.id:
        raise _refused(
            home, by, "approve_deletion", via, item_id,
            "the account that asked for a deletion cannot approve it: a second legal or admin account must",
        )  # fmt: skip
    with home.transaction(by.name, via) as tx:
        current = _request_row(tx.conn, item_id)
        if current is None or current.id != req.id:
            raise DeletionError(f"the deletion request on item {item_id} changed meanwhile: look again")
        _same_items(tx.conn, by, req.id, current.item_ids)
        requester = tx.conn.execute(select(users.c.name).where(users.c.id == req.requested_by)).scalar_one()
        tomb = Tombstone(req.id, req.reason, str(requester), by.name, req.requested_by, by.id)
        erased = sorted(current.item_ids)
        tx.conn.execute(
            deletion_requests.update()
            .where(deletion_requests.c.id == req.id)
            .values(status="approved", closed_by=by.id, closed_at=utcnow(), erased=erased)
        )
        # Requests opened on the other items of this erasure are answered by it.
        tx.conn.execute(
            deletion_requests.update()
            .where(deletion_requests.c.item_id.in_(erased), deletion_requests.c.status == "open")
            .values(status="approved", closed_by=by.id, closed_at=utcnow())
        )
        tx.event(
            "deletion.approved",
            case_id=req.case_id,
            item_id=item_id,
            details={"request_id": req.id, "items": erased, "requested_by": req.requested_by},
        )
        purge: Purge = purge_rows(tx, erased, tomb)
    remove_files(home, purge)
    retained = _record_retained(home, by, via, req.case_id, purge.retained)
    removed = [sha for sha in purge.blobs if sha not in {r["sha256"] for r in retained}]
    return Erased(req.id, purge.item_ids, removed, purge.wal_truncated, retained)


def _record_retained(
    home: Home, by: Account, via: str, case_id: int, kept: list[BlobRetained]
) -> list[dict[str, Any]]:
    """One ``erasure.retained`` event per file whose bytes the store's lock keeps past the erasure, so
    the log says the bytes still exist and until when (docs/deploy.md, "Object Lock and erasure")."""
    rows = [
        {
            "sha256": k.sha256,
            "retain_until": k.retain_until.isoformat() if k.retain_until else None,
            "legal_hold": k.legal_hold,
        }
        for k in kept
    ]
    if rows:
        with home.transaction(by.name, via) as tx:
            for row in rows:
                tx.event(
                    "erasure.retained",
                    case_id=case_id,
                    artifact_sha256=row["sha256"],
                    details={"retain_until": row["retain_until"], "legal_hold": row["legal_hold"]},
                )
    return rows


def _same_items(conn: Connection, by: Account, request_id: str, now: tuple[str, ...]) -> None:
    """The approval erases exactly what was asked for, all of it visible to the approver."""
    asked = conn.execute(
        select(deletion_requests.c.erased).where(deletion_requests.c.id == request_id)
    ).scalar_one()
    if sorted(asked or []) != sorted(now):
        raise DeletionError(
            "the items this erasure takes changed since the request (a new capture or a deletion): "
            "withdraw it and ask again"
        )
    if any(find_visible(conn, by, i) is None for i in now):
        raise DeletionError("the items this erasure takes changed meanwhile: look again")


def withdraw_deletion(home: Home, by: Account, item_id: str, via: str = "app") -> DeletionRequest:
    """End an open request (its requester, or a legal or admin account that may see the item)."""
    row = authorise(home, by, item_id, Perm.READ, via)
    req = _open_or_fail(home, row.id)
    if req.requested_by != by.id and (not by.active or by.role not in APPROVERS):
        raise _refused(
            home, by, "withdraw_deletion", via, item_id,
            "only the requester or a legal or admin account may withdraw a deletion request",
        )  # fmt: skip
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(
            deletion_requests.update()
            .where(deletion_requests.c.id == req.id, deletion_requests.c.status == "open")
            .values(status="withdrawn", closed_by=by.id, closed_at=utcnow())
        )
        tx.event("deletion.withdrawn", case_id=req.case_id, item_id=row.id, details={"request_id": req.id})
    return DeletionRequest(
        req.id, req.item_id, req.case_id, req.reason, "withdrawn", req.requested_by, req.item_ids
    )
