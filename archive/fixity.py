"""Scheduled fixity (PRE-02): every live blob re-hashed through the store, the result kept and logged.

A run walks the live artifacts in hash order and re-hashes each through the blob store's own
``rehash`` (so it works the same on a local folder, an encrypted store or an object store). Results
are saved in batches with the run's cursor (the last hash checked): a run that stops (a crash, a
kill, a ``limit``) resumes after its cursor the next time, and its counts include what was checked
before. At the end the custody chain is walked too, and one ``fixity.completed`` event records the
counts and the failing hashes. ``blob_fixity`` keeps each blob's latest result: an item linked to a
blob whose latest result is not ``ok`` is "integrity failed" until a later run finds it intact again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from archive.custody import ChainVerifier
from archive.db import artifacts, blob_fixity, fixity_runs, item_artifacts, items, utcnow
from archive.home import Home

__all__ = [
    "FixityRun",
    "failed_blobs",
    "failures_of_items",
    "last_activity",
    "last_finished",
    "open_run",
    "run_fixity",
]

BATCH = 64
LOGGED_HASHES = 1000  # failing hashes named in the custody event; the count is always exact


@dataclass
class FixityRun:
    run_id: str
    total: int
    resumed: bool
    finished: bool = False
    checked: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # sha256, state, found_sha256
    events: int = 0
    chain_problems: list[Any] = field(default_factory=list)


def open_run(conn: Connection) -> dict[str, Any] | None:
    """The unfinished run (there is at most one: a new run starts only when none is open)."""
    row = (
        conn.execute(
            select(fixity_runs).where(fixity_runs.c.finished_at.is_(None)).order_by(fixity_runs.c.started_at)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def _live_hashes(conn: Connection, after: str | None, limit: int) -> list[str]:
    query = select(artifacts.c.sha256).where(artifacts.c.removed_at.is_(None))
    if after is not None:
        query = query.where(artifacts.c.sha256 > after)
    return [r[0] for r in conn.execute(query.order_by(artifacts.c.sha256).limit(limit))]


def _start(home: Home, actor: str, via: str) -> tuple[dict[str, Any], bool]:
    """The unfinished run to resume, or a new one (logged as ``fixity.started``)."""
    with home.reading() as conn:
        found = open_run(conn)
    if found is not None:
        return found, True
    with home.transaction(actor, via) as tx:
        total = tx.conn.execute(
            select(func.count()).select_from(artifacts).where(artifacts.c.removed_at.is_(None))
        ).scalar_one()
        row = {
            "id": uuid.uuid4().hex,
            "actor": actor,
            "started_at": utcnow(),
            "total": int(total),
            "cursor": None,
        }
        tx.conn.execute(insert(fixity_runs).values(**row))
        tx.event("fixity.started", details={"run_id": row["id"], "blobs": int(total)})
    return row, False


def _save(home: Home, run_id: str, results: list[tuple[str, str, str | None]]) -> None:
    now = utcnow()
    with home.db.begin() as conn:
        for sha, state, found in results:
            values = {"run_id": run_id, "state": state, "found_sha256": found, "checked_at": now}
            done = conn.execute(update(blob_fixity).where(blob_fixity.c.sha256 == sha).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(blob_fixity).values(sha256=sha, **values))
        conn.execute(update(fixity_runs).where(fixity_runs.c.id == run_id).values(cursor=results[-1][0]))


def _check(home: Home, sha: str) -> tuple[str, str, str | None]:
    try:
        now = home.blobs.rehash(sha)
    # Unreadable: permissions, a failing disk, a store that is down or a wrong key. Any store's error
    # counts (an object store raises its own types): the run records it and goes on to the next file.
    except Exception:
        return sha, "unreadable", None
    if now is None:
        return sha, "missing", None
    return (sha, "ok", None) if now == sha else (sha, "changed", now)


def run_fixity(
    home: Home,
    actor: str,
    via: str = "cli",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FixityRun:
    """Re-hash every live blob (resuming an unfinished run), walk the chain, log the outcome.

    ``limit`` stops after that many blobs, leaving the run to resume later (as a crash would).
    The caller has checked that ``actor`` may run fixity.
    """
    row, resumed = _start(home, actor, via)
    run = FixityRun(str(row["id"]), int(row["total"]), resumed)
    cursor = row["cursor"]
    while limit is None or run.checked < limit:
        size = BATCH if limit is None else min(BATCH, limit - run.checked)
        with home.reading() as conn:
            batch = _live_hashes(conn, cursor, size)
        if not batch:
            break
        results = [_check(home, sha) for sha in batch]
        _save(home, run.run_id, results)
        run.checked += len(results)
        cursor = batch[-1]
        if progress is not None:
            progress(run.checked, run.total)
    else:
        with home.reading() as conn:
            if _live_hashes(conn, cursor, 1):
                return run  # stopped by the limit: resumes after the cursor next time
    _finish(home, actor, via, run)
    return run


def _finish(home: Home, actor: str, via: str, run: FixityRun) -> None:
    with home.reading() as conn:
        rows = conn.execute(select(blob_fixity).where(blob_fixity.c.run_id == run.run_id)).mappings().all()
        run.events, run.chain_problems = ChainVerifier(home.signer.verifier, home.witness()).verify(conn)
    run.checked = len(rows)
    run.failed = [
        {"sha256": r["sha256"], "state": r["state"], "found_sha256": r["found_sha256"]}
        for r in sorted(rows, key=lambda r: r["sha256"])
        if r["state"] != "ok"
    ]
    counts = {
        state: sum(1 for r in rows if r["state"] == state)
        for state in ("ok", "changed", "missing", "unreadable")
    }
    with home.transaction(actor, via) as tx:
        tx.conn.execute(
            update(fixity_runs).where(fixity_runs.c.id == run.run_id).values(finished_at=utcnow())
        )
        tx.event(
            "fixity.completed",
            details={
                "run_id": run.run_id,
                "checked": run.checked,
                **counts,
                "failed": [f["sha256"] for f in run.failed[:LOGGED_HASHES]],
                "chain_problems": len(run.chain_problems),
                "events": run.events,
            },
        )
    run.finished = True


def failed_blobs(conn: Connection, hashes: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Blobs whose latest fixity result is not ``ok``: sha256 -> state, found_sha256, checked_at, run_id."""
    query = select(blob_fixity).where(blob_fixity.c.state != "ok")
    if hashes is not None:
        query = query.where(blob_fixity.c.sha256.in_(sorted(set(hashes))))
    return {r["sha256"]: dict(r) for r in conn.execute(query).mappings()}


def failures_of_items(conn: Connection, item_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """For each given item with a failed blob (its original or any linked file): those blobs' results."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    linked = conn.execute(
        select(item_artifacts.c.item_id, item_artifacts.c.sha256).where(item_artifacts.c.item_id.in_(ids))
    ).all()
    mains = conn.execute(select(items.c.id, items.c.sha256).where(items.c.id.in_(ids))).all()
    pairs = {(str(i), str(s)) for i, s in [*linked, *mains]}
    failed = failed_blobs(conn, {s for _, s in pairs})
    found: dict[str, list[dict[str, Any]]] = {}
    for item_id, sha in sorted(pairs):
        if sha in failed:
            found.setdefault(item_id, []).append(failed[sha])
    return found


def last_activity(conn: Connection, run: dict[str, Any]) -> datetime:
    """When a run last made progress: its newest result, else its start."""
    newest = conn.execute(
        select(func.max(blob_fixity.c.checked_at)).where(blob_fixity.c.run_id == run["id"])
    ).scalar()
    if isinstance(newest, str):
        newest = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=utcnow().tzinfo)
    started: datetime = run["started_at"]
    return max(started, newest) if newest is not None else started


def last_finished(conn: Connection) -> datetime | None:
    """When the newest finished run ended (for the schedule)."""
    value = conn.execute(select(func.max(fixity_runs.c.finished_at))).scalar()
    if isinstance(value, str):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=utcnow().tzinfo)
    return value
