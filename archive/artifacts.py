"""Artifact rows: recording stored blobs, derived files, and their links to items."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from archive.blobs import BlobStore, PutResult
from archive.db import artifacts, item_artifacts, utcnow
from archive.home import Transaction

__all__ = ["attach_derived", "link", "record", "store_derived"]


def record(
    conn: Connection,
    put: PutResult,
    mime: str,
    *,
    parent_sha256: str | None = None,
    operation: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> bool:
    """Insert the artifact row unless it exists; True when it was new."""
    existing = conn.execute(
        select(artifacts.c.sha256, artifacts.c.removed_at).where(artifacts.c.sha256 == put.sha256)
    ).first()
    if existing is not None:
        if existing.removed_at is not None:
            # The same bytes arrive again after an erasure: they are live evidence once more.
            conn.execute(artifacts.update().where(artifacts.c.sha256 == put.sha256).values(removed_at=None))
        return False
    conn.execute(
        artifacts.insert().values(
            sha256=put.sha256,
            size=put.size,
            mime=mime,
            created_at=utcnow(),
            parent_sha256=parent_sha256,
            operation=operation,
            parameters=dict(parameters or {}),
        )
    )
    return True


def link(conn: Connection, item_id: str, sha256: str, role: str, declared: str | None = None) -> None:
    exists = conn.execute(
        select(item_artifacts.c.item_id).where(
            and_(
                item_artifacts.c.item_id == item_id,
                item_artifacts.c.sha256 == sha256,
                item_artifacts.c.role == role,
            )
        )
    ).first()
    if exists is None:
        conn.execute(
            item_artifacts.insert().values(
                item_id=item_id, sha256=sha256, role=role, declared_type=declared, added_at=utcnow()
            )
        )


def store_derived(
    conn: Connection,
    blobs: BlobStore,
    data: bytes,
    mime: str,
    *,
    parent_sha256: str,
    operation: str,
    parameters: Mapping[str, Any] | None = None,
) -> PutResult:
    """Store a working copy made from a parent (sidecar, thumbnail, heatmap, redaction)."""
    put = blobs.put(io.BytesIO(data))
    record(conn, put, mime, parent_sha256=parent_sha256, operation=operation, parameters=parameters)
    return put


def attach_derived(
    tx: Transaction,
    blobs: BlobStore,
    data: bytes,
    mime: str,
    *,
    case_id: int,
    item_id: str,
    parent_sha256: str,
    operation: str,
    role: str,
    parameters: Mapping[str, Any] | None = None,
) -> PutResult:
    """Store a working copy, link it to its item in ``role``, and log the derivation."""
    put = store_derived(
        tx.conn, blobs, data, mime, parent_sha256=parent_sha256, operation=operation, parameters=parameters
    )
    link(tx.conn, item_id, put.sha256, role)
    tx.event(
        "artifact.derived",
        case_id=case_id,
        item_id=item_id,
        artifact_sha256=put.sha256,
        before_sha256=parent_sha256,
        after_sha256=put.sha256,
        details={"operation": operation},
    )
    return put
