"""Erasure with a tombstone (RET-02): every personal trace of an item goes, the custody chain stays.

Who may ask for and approve an erasure is decided by the workbench (``workbench.services.deletion``); this
module only carries out an approved one, in two steps:

1. ``purge_rows`` (inside the approver's transaction): the items become tombstones (id, case, original
   SHA-256, kind, deletion time, requester, approver, reason); their sightings, the capture records
   they were seen in (URL, caption, account, headers), notes, translations, judgements and rationales,
   consent records (pseudonyms), tags and assignments, near-duplicate decisions, job rows naming them,
   fingerprints and flags of their files are deleted; each file no live item uses is marked removed.
   One ``artifact.removed`` event per file and one ``item.deleted`` event per item, with ids and
   hashes only: the log never held personal text, so it is not touched and still verifies.
2. ``remove_files`` (after the commit): the blobs, their cached thumbnails, the case's near-duplicate
   index (a cache, rebuilt from the table when next used), the upload folders and exports awaiting
   download of the deleted job rows, the staging folders of capture runs that died (``archive.staging``:
   a run killed with ``kill -9`` leaves its staged pages); then the SQLite write-ahead log is copied
   back and cut to zero, so that no earlier page image with the item's text is left in it.
   ``secure_delete`` (archive.db) zeroes freed space in the database file itself.

What an erasure covers: the item and every item whose bytes lie in the same files. Items seen in one
web capture share that capture's page files (screenshot, HTML, WARC/WACZ hold every picture shown) and
its record; a zip holds its members. So ``erasure_set`` follows captures and containers to their
closure, and the request lists every item it will erase.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.engine import Connection

from archive import staging
from archive.blobs import BlobRetained
from archive.db import (
    artifacts,
    captures,
    consents,
    fingerprints,
    flags,
    item_artifacts,
    items,
    job_steps,
    jobs,
    judgements,
    match_decisions,
    notes,
    sightings,
    tags,
    translations,
    upload_chunks,
    utcnow,
)
from archive.errors import InvalidRequest
from archive.home import Home, Transaction

__all__ = ["DeletionError", "Purge", "Tombstone", "erase", "erasure_set", "purge_rows", "remove_files"]


class DeletionError(InvalidRequest):
    """The erasure cannot be done as asked (no such item, already deleted, no open request, ...)."""


@dataclass(frozen=True)
class Tombstone:
    """What stays of each erased item besides its id, case, hash and kind."""

    request_id: str
    reason: str  # the legal basis, as the requester gave it
    requested_by: str  # account names (the custody events carry their ids)
    approved_by: str
    requested_by_id: int
    approved_by_id: int


@dataclass
class Purge:
    """What ``purge_rows`` took out of the database, for ``remove_files`` to finish on disk."""

    item_ids: list[str]
    blobs: list[str] = field(default_factory=list)
    case_ids: set[int] = field(default_factory=set)
    job_ids: list[str] = field(default_factory=list)
    upload_folders: list[str] = field(default_factory=list)
    wal_truncated: bool = False
    retained: list[BlobRetained] = field(default_factory=list)  # kept by the store's Object Lock
    staging_swept: list[str] = field(default_factory=list)  # folders dead capture runs left


def erasure_set(conn: Connection, item_id: str) -> list[str]:
    """The live items that go with ``item_id``: those sharing a web capture or a container with it."""
    found = {item_id}
    frontier = {item_id}
    while frontier:
        more = _capture_mates(conn, frontier) | _container_kin(conn, frontier)
        frontier = more - found
        found |= frontier
    live = conn.execute(select(items.c.id).where(items.c.id.in_(found), items.c.deleted_at.is_(None)))
    return sorted(str(r[0]) for r in live)


def _capture_mates(conn: Connection, ids: set[str]) -> set[str]:
    caps = select(sightings.c.capture_id).where(
        sightings.c.item_id.in_(ids), sightings.c.capture_id.is_not(None)
    )
    rows = conn.execute(select(sightings.c.item_id).where(sightings.c.capture_id.in_(caps)))
    return {str(r[0]) for r in rows}


def _container_kin(conn: Connection, ids: set[str]) -> set[str]:
    """Containers of these items (a zip they came from) and members of those that are containers."""
    out: set[str] = set()
    mine = conn.execute(select(items.c.id, items.c.case_id, items.c.sha256).where(items.c.id.in_(ids)))
    for item in mine.all():
        for row in conn.execute(select(sightings.c.details).where(sightings.c.item_id == item.id)):
            container = (row.details or {}).get("container_sha256")
            if container:
                out |= _items_with(conn, item.case_id, [str(container)])
        named = conn.execute(
            select(sightings.c.item_id, sightings.c.details)
            .join(items, items.c.id == sightings.c.item_id)
            .where(items.c.case_id == item.case_id)
            .where(cast(sightings.c.details, String).like(f"%{item.sha256}%"))
        )
        out |= {str(r.item_id) for r in named if (r.details or {}).get("container_sha256") == item.sha256}
    return out


def _items_with(conn: Connection, case_id: int, shas: list[str]) -> set[str]:
    rows = conn.execute(select(items.c.id).where(items.c.case_id == case_id, items.c.sha256.in_(shas)))
    return {str(r[0]) for r in rows}


def purge_rows(tx: Transaction, item_ids: list[str], tomb: Tombstone) -> Purge:
    """Tombstone the items and delete every row that holds their personal text (see module doc)."""
    conn = tx.conn
    rows = conn.execute(select(items).where(items.c.id.in_(item_ids))).mappings().all()
    gone = [r for r in rows if r["deleted_at"] is not None]
    if gone or len(rows) != len(set(item_ids)):
        raise DeletionError("an item of this erasure does not exist or was deleted already")
    purge = Purge(sorted(item_ids), case_ids={int(r["case_id"]) for r in rows})
    needles = _needles(conn, item_ids)
    purge.blobs = _orphaned_blobs(conn, item_ids)
    _delete_item_rows(conn, item_ids, purge.case_ids, needles)
    purge.job_ids, purge.upload_folders = _delete_jobs(conn, needles)
    now = utcnow()
    by_id = {str(r["id"]): r for r in rows}
    for sha in purge.blobs:
        conn.execute(artifacts.update().where(artifacts.c.sha256 == sha).values(removed_at=now))
        conn.execute(fingerprints.delete().where(fingerprints.c.artifact_sha256 == sha))
        conn.execute(flags.delete().where(or_(flags.c.input_sha256 == sha, flags.c.heatmap_sha256 == sha)))
        owner = _owner(conn, sha, item_ids)
        tx.event(
            "artifact.removed",
            case_id=by_id[owner]["case_id"] if owner else None,
            item_id=owner,
            artifact_sha256=sha,
            before_sha256=sha,
        )
    for item_id in purge.item_ids:
        _tombstone(tx, by_id[item_id], tomb, now)
    return purge


def _tombstone(tx: Transaction, row: Any, tomb: Tombstone, now: Any) -> None:
    tx.conn.execute(
        items.update()
        .where(items.c.id == row["id"])
        .values(
            deleted_at=now,
            deleted_by=tomb.requested_by,
            deletion_approved_by=tomb.approved_by,
            deletion_reason=tomb.reason,
            title=None,
        )
    )
    tx.event(
        "item.deleted",
        case_id=row["case_id"],
        item_id=row["id"],
        artifact_sha256=row["sha256"],
        details={
            "request_id": tomb.request_id,
            "requested_by": tomb.requested_by_id,
            "approved_by": tomb.approved_by_id,
            # The reason may name a person: the log holds only its hash.
            "reason_sha256": hashlib.sha256(tomb.reason.encode("utf-8")).hexdigest(),
        },
    )


def _owner(conn: Connection, sha: str, item_ids: list[str]) -> str | None:
    row = conn.execute(
        select(item_artifacts.c.item_id)
        .where(item_artifacts.c.sha256 == sha, item_artifacts.c.item_id.in_(item_ids))
        .order_by(item_artifacts.c.item_id)
    ).first()
    return str(row[0]) if row else None


def _needles(conn: Connection, item_ids: list[str]) -> set[str]:
    """Every id, hash and text by which a job row could name these items."""
    found: set[str] = set(item_ids)
    q = select(item_artifacts.c.sha256).where(item_artifacts.c.item_id.in_(item_ids))
    found |= {str(r[0]) for r in conn.execute(q)}
    q2 = select(sightings.c.capture_id, sightings.c.url, sightings.c.original_name, sightings.c.details)
    for cap, url, name, details in conn.execute(q2.where(sightings.c.item_id.in_(item_ids))):
        found |= {str(v) for v in (cap, url, name) if v}
        found |= {str(v) for k, v in (details or {}).items() if k.endswith("_url") and v}
    for cap_row in conn.execute(select(captures).where(captures.c.id.in_(found))).mappings():
        found |= {str(v) for v in (cap_row["requested_url"], cap_row["final_url"]) if v}
    return {n for n in found if len(n) >= 8}  # shorter strings would match unrelated rows


def _delete_item_rows(conn: Connection, item_ids: list[str], case_ids: set[int], needles: set[str]) -> None:
    caps = {
        str(r[0])
        for r in conn.execute(
            select(sightings.c.capture_id).where(
                sightings.c.item_id.in_(item_ids), sightings.c.capture_id.is_not(None)
            )
        )
    }
    urls = [n for n in needles if "://" in n]
    # Failed or refused attempts at the same address hold the URL too, with no sighting to follow.
    same_url = select(captures.c.id).where(
        captures.c.case_id.in_(case_ids),
        or_(captures.c.requested_url.in_(urls), captures.c.final_url.in_(urls)),
    )
    caps |= {str(r[0]) for r in conn.execute(same_url)}
    live_elsewhere = select(sightings.c.capture_id).where(
        sightings.c.capture_id.in_(caps), sightings.c.item_id.not_in(item_ids)
    )
    caps -= {str(r[0]) for r in conn.execute(live_elsewhere)}
    for table in (sightings, notes, translations, judgements, consents, tags):
        conn.execute(table.delete().where(table.c.item_id.in_(item_ids)))
    conn.execute(
        match_decisions.delete().where(
            or_(match_decisions.c.item_id.in_(item_ids), match_decisions.c.other_item_id.in_(item_ids))
        )
    )
    conn.execute(captures.delete().where(captures.c.id.in_(caps)))


def _delete_jobs(conn: Connection, needles: set[str]) -> tuple[list[str], list[str]]:
    """Delete the job rows whose parameters or result name one of the needles."""
    ids: list[str] = []
    folders: list[str] = []
    for row in conn.execute(select(jobs.c.id, jobs.c.params, jobs.c.result)).all():
        text = json.dumps([row.params, row.result], ensure_ascii=False)
        if any(n in text for n in needles):
            ids.append(str(row.id))
            folder = (row.params or {}).get("folder")
            if isinstance(folder, str) and folder.isalnum():
                folders.append(folder)
    if folders or ids:  # staged uploads, and packages kept under their export job's id (team mode)
        conn.execute(upload_chunks.delete().where(upload_chunks.c.folder.in_(folders + ids)))
    if ids:
        conn.execute(job_steps.delete().where(job_steps.c.job_id.in_(ids)))
        conn.execute(jobs.delete().where(jobs.c.id.in_(ids)))
    return ids, folders


def _orphaned_blobs(conn: Connection, item_ids: list[str]) -> list[str]:
    """Files of these items (and files derived from them) that no other live item uses."""
    mine = {
        str(r[0])
        for r in conn.execute(select(item_artifacts.c.sha256).where(item_artifacts.c.item_id.in_(item_ids)))
    }
    frontier = set(mine)
    while frontier:  # derived files (sidecars, heatmaps, keyframes, redactions) of those files
        kids = conn.execute(select(artifacts.c.sha256).where(artifacts.c.parent_sha256.in_(frontier)))
        frontier = {str(r[0]) for r in kids} - mine
        mine |= frontier
    live_elsewhere = {
        str(r[0])
        for r in conn.execute(
            select(item_artifacts.c.sha256)
            .join(items, items.c.id == item_artifacts.c.item_id)
            .where(
                and_(
                    item_artifacts.c.sha256.in_(mine),
                    items.c.id.not_in(item_ids),
                    items.c.deleted_at.is_(None),
                )
            )
        )
    }
    return sorted(mine - live_elsewhere)


def erase(home: Home, item_ids: list[str], tomb: Tombstone, via: str = "cli") -> Purge:
    """Both steps of an erasure already approved (``workbench.services.deletion`` decides who may approve)."""
    with home.transaction(tomb.approved_by, via) as tx:
        purge = purge_rows(tx, item_ids, tomb)
    return remove_files(home, purge)


def remove_files(home: Home, purge: Purge) -> Purge:
    """After the commit: blobs, thumbnails, indexes, uploads and exports of the purge; then the WAL."""
    for sha in purge.blobs:
        try:
            home.blobs.delete(sha)
        except BlobRetained as kept:  # hidden now; the store removes the bytes when the lock ends
            purge.retained.append(kept)
    _remove_caches(home, purge.blobs, purge.case_ids)
    for folder in purge.upload_folders:
        shutil.rmtree(home.area("uploads") / folder, ignore_errors=True)
    for job_id in purge.job_ids:
        if job_id.isalnum():
            shutil.rmtree(home.area("exports") / job_id, ignore_errors=True)
    # A capture killed mid-way left its staged pages (which may hold the item) where no row names them.
    purge.staging_swept = staging.sweep(home.area("staging"))
    purge.wal_truncated = home.db.truncate_wal()
    return purge


def _remove_caches(home: Home, shas: Iterable[str], case_ids: Iterable[int]) -> None:
    thumbs = home.area("thumbs")
    for sha in shas:
        for path in thumbs.glob(f"{sha}-*"):
            path.unlink(missing_ok=True)
    # The near-duplicate index holds the hashes of the case's pictures; it is rebuilt when next used.
    for case_id in case_ids:
        shutil.rmtree(home.area("neardup") / f"neardup-case-{int(case_id)}", ignore_errors=True)
