"""Everything the archive knows about an item (an ``ItemRecord`` of JSON rows), for packages and reports.

Reads only; the caller decides what may leave (workbench.services.export.packages). Times become fixed-form
UTC text.
Custody events keep their stored columns exactly (``at`` and ``details`` as text) so that a verifier
can recompute each event's hash from the package alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.custody import HASHED_FIELDS
from archive.db import (
    artifacts,
    captures,
    checkpoints,
    consents,
    custody_events,
    flags,
    item_artifacts,
    items,
    judgements,
    notes,
    sightings,
    tags,
    translations,
    utc_text,
)
from archive.fixity import failures_of_items
from archive.model import ItemRecord

__all__ = ["gather_item", "item_events", "jsonable", "latest_checkpoint"]


def jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as plain JSON values: datetimes as UTC text."""
    return {str(k): (utc_text(v) if isinstance(v, datetime) else v) for k, v in row.items()}


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [jsonable(r) for r in conn.execute(query).mappings()]


def _linked_artifacts(conn: Connection, item_id: str) -> list[dict[str, Any]]:
    """The item's artifacts with their role, in the order they were linked."""
    return _rows(
        conn,
        select(
            item_artifacts.c.role,
            item_artifacts.c.declared_type,
            artifacts.c.sha256,
            artifacts.c.size,
            artifacts.c.mime,
            artifacts.c.parent_sha256,
            artifacts.c.operation,
            artifacts.c.parameters,
            artifacts.c.removed_at,
        )
        .join(artifacts, artifacts.c.sha256 == item_artifacts.c.sha256)
        .where(item_artifacts.c.item_id == item_id)
        .order_by(item_artifacts.c.added_at, item_artifacts.c.role),
    )


def gather_item(conn: Connection, item_id: str) -> ItemRecord:
    """The item row and everything linked to it; raises KeyError for an unknown id."""
    row = conn.execute(select(items).where(items.c.id == item_id)).mappings().first()
    if row is None:
        raise KeyError(item_id)
    linked = _linked_artifacts(conn, item_id)
    hashes = sorted({a["sha256"] for a in linked} | {row["sha256"]})
    seen = _rows(conn, select(sightings).where(sightings.c.item_id == item_id).order_by(sightings.c.id))
    capture_ids = sorted({s["capture_id"] for s in seen if s["capture_id"]})
    # Only when a fixity run found one of its files changed, missing or unreadable (PRE-02).
    failed = failures_of_items(conn, [item_id]).get(item_id)
    return ItemRecord(
        item=jsonable(row),
        artifacts=linked,
        derived=_rows(
            conn,
            select(artifacts).where(artifacts.c.parent_sha256.in_(hashes)).order_by(artifacts.c.created_at),
        ),
        sightings=seen,
        captures=_rows(conn, select(captures).where(captures.c.id.in_(capture_ids)).order_by(captures.c.id)),
        judgements=_rows(
            conn, select(judgements).where(judgements.c.item_id == item_id).order_by(judgements.c.id)
        ),
        flags=_rows(conn, select(flags).where(flags.c.input_sha256.in_(hashes)).order_by(flags.c.id)),
        tags=_rows(conn, select(tags).where(tags.c.item_id == item_id).order_by(tags.c.tag)),
        notes=_rows(
            conn,
            select(notes)
            .where(notes.c.item_id == item_id, notes.c.deleted_at.is_(None))
            .order_by(notes.c.id),
        ),
        translations=_rows(
            conn,
            select(translations).where(translations.c.item_id == item_id).order_by(translations.c.id),
        ),
        consents=_rows(conn, select(consents).where(consents.c.item_id == item_id).order_by(consents.c.id)),
        integrity_failed=[jsonable(f) for f in failed] if failed else None,
    )


def item_events(conn: Connection, item_ids: Iterable[str], up_to: int) -> list[dict[str, Any]]:
    """Stored custody rows of these items with sequence numbers up to ``up_to``, in log order."""
    query = (
        select(custody_events)
        .where(custody_events.c.item_id.in_(sorted(set(item_ids))), custody_events.c.seq <= up_to)
        .order_by(custody_events.c.seq)
    )
    fields = (*HASHED_FIELDS, "event_hash")
    return [{f: r[f] for f in fields} for r in conn.execute(query).mappings()]


def latest_checkpoint(conn: Connection) -> dict[str, Any] | None:
    """The newest signed checkpoint, without its unsigned frontier cache."""
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    return {k: row[k] for k in ("tree_size", "root_hash", "signed_at", "key_id", "signature")}


def decode_details(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event's details as a dict (they are stored as canonical JSON text)."""
    value = json.loads(event["details"])
    return value if isinstance(value, dict) else {}
