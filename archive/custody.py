"""The append-only, hash-chained, signed custody and access log, and its verifier.

Each event's hash covers its own fields and the previous event's hash; the database refuses UPDATE
and DELETE on the table (triggers made by the migrations). Every write transaction that appends
events also appends a checkpoint: the tree size and the RFC 6962 Merkle root over all event hashes,
signed with the installation's Ed25519 key, which lives outside the database. The newest checkpoint
is copied to a *witness* file beside the key, so cutting events off the end of the log together
with their checkpoints is still seen.

Events hold ids, hashes and action names, never personal text, so erasing an item never touches
the log.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from archive import merkle
from archive.db import checkpoints, custody_events, utc_text, utcnow
from archive.model import CustodyEvent
from archive.signing import Signer, Verifier

__all__ = ["GENESIS", "ChainProblem", "CustodyLog", "checkpoint_message", "event_hash"]

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "event_id",
    "at",
    "actor",
    "via",
    "action",
    "case_id",
    "item_id",
    "artifact_sha256",
    "before_sha256",
    "after_sha256",
    "details",
    "tool_version",
    "prev_hash",
)


@dataclass(frozen=True)
class ChainProblem:
    kind: str  # "event" | "checkpoint"
    ref: str
    position: int | None
    problem: str


def event_hash(row: Mapping[Any, Any]) -> str:
    """SHA-256 over the canonical JSON of an event's fields (the previous hash among them)."""
    payload = {name: row[name] for name in HASHED_FIELDS}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checkpoint_message(tree_size: int, root_hex: str, signed_at: str) -> bytes:
    return f"wb-checkpoint/v1\n{tree_size}\n{root_hex}\n{signed_at}\n".encode()


def _details_text(details: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(details or {}), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _to_event(row: Mapping[Any, Any]) -> CustodyEvent:
    return CustodyEvent(
        seq=row["seq"],
        event_id=row["event_id"],
        at=datetime.strptime(row["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=utcnow().tzinfo),
        actor=row["actor"],
        via=row["via"],
        action=row["action"],
        case_id=row["case_id"],
        item_id=row["item_id"],
        artifact_sha256=row["artifact_sha256"],
        before_sha256=row["before_sha256"],
        after_sha256=row["after_sha256"],
        details=json.loads(row["details"]),
        tool_version=row["tool_version"],
        prev_hash=row["prev_hash"],
        event_hash=row["event_hash"],
    )


class CustodyLog:
    """Appends events inside the caller's transaction and signs checkpoints."""

    def __init__(self, signer: Signer, tool_version: str, witness: Path | None = None) -> None:
        self.signer = signer
        self.tool_version = tool_version
        self.witness = witness

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        via: str,
        action: str,
        case_id: int | None = None,
        item_id: str | None = None,
        artifact_sha256: str | None = None,
        before_sha256: str | None = None,
        after_sha256: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CustodyEvent:
        """Append one event. The caller's transaction holds the write lock (BEGIN IMMEDIATE)."""
        last = conn.execute(
            select(custody_events.c.seq, custody_events.c.event_hash)
            .order_by(custody_events.c.seq.desc())
            .limit(1)
        ).first()
        row: dict[str, Any] = {
            "seq": 1 if last is None else last.seq + 1,
            "event_id": uuid.uuid4().hex,
            "at": utc_text(utcnow()),
            "actor": actor,
            "via": via,
            "action": action,
            "case_id": case_id,
            "item_id": item_id,
            "artifact_sha256": artifact_sha256,
            "before_sha256": before_sha256,
            "after_sha256": after_sha256,
            "details": _details_text(details),
            "tool_version": self.tool_version,
            "prev_hash": GENESIS if last is None else last.event_hash,
        }
        row["event_hash"] = event_hash(row)
        conn.execute(insert(custody_events).values(**row))
        return _to_event(row)

    def checkpoint(self, conn: Connection) -> dict[str, Any] | None:
        """Sign the current tree if it grew since the last checkpoint; returns what was signed."""
        latest = self._latest_checkpoint(conn)
        frontier = self._frontier(conn, latest)
        if latest is not None and latest["tree_size"] == frontier.size:
            return None
        signed_at = utc_text(utcnow())
        root_hex = frontier.root().hex()
        record = {
            "tree_size": frontier.size,
            "root_hash": root_hex,
            "signed_at": signed_at,
            "key_id": self.signer.verifier.key_id,
            "signature": self.signer.sign(checkpoint_message(frontier.size, root_hex, signed_at)),
        }
        conn.execute(insert(checkpoints).values(**record, frontier=frontier.to_json()))
        return record

    @staticmethod
    def _frontier(conn: Connection, latest: Mapping[str, Any] | None) -> merkle.Frontier:
        frontier = merkle.Frontier()
        if latest is not None and latest.get("frontier"):
            try:
                frontier = merkle.Frontier.from_json(latest["frontier"])
            except (ValueError, TypeError):
                frontier = merkle.Frontier()
            if frontier.size != latest["tree_size"]:
                frontier = merkle.Frontier()
        rows = conn.execute(
            select(custody_events.c.event_hash)
            .where(custody_events.c.seq > frontier.size)
            .order_by(custody_events.c.seq)
        )
        for (digest,) in rows:
            frontier.append(merkle.leaf_hash(bytes.fromhex(digest)))
        return frontier

    @staticmethod
    def _latest_checkpoint(conn: Connection) -> dict[str, Any] | None:
        row = conn.execute(select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)).first()
        return None if row is None else dict(row._mapping)

    def write_witness(self, record: Mapping[str, Any], home_id: str) -> None:
        """Copy a signed checkpoint beside the key, keeping the largest one seen."""
        if self.witness is None:
            return
        path = self.witness / f"{home_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        current = read_witness(path)
        if current is not None and current.get("tree_size", 0) >= record["tree_size"]:
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".witness-")
        # No fsync: after a power cut an older (or unreadable, hence ignored) witness is still a
        # genuine checkpoint, and an fsync here would double the cost of every small ingest.
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(dict(record), out, sort_keys=True)
        os.replace(tmp, path)

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def events(conn: Connection, item_id: str | None = None) -> Iterator[CustodyEvent]:
        query = select(custody_events).order_by(custody_events.c.seq)
        if item_id is not None:
            query = query.where(custody_events.c.item_id == item_id)
        for row in conn.execute(query):
            yield _to_event(row._mapping)

    @staticmethod
    def size(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(custody_events)).scalar_one())

    @staticmethod
    def leaves(conn: Connection) -> list[bytes]:
        rows = conn.execute(select(custody_events.c.event_hash).order_by(custody_events.c.seq))
        return [merkle.leaf_hash(bytes.fromhex(r.event_hash)) for r in rows]


def read_witness(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ChainVerifier:
    """Walks the log once: chain links, event hashes, every checkpoint and the witness."""

    def __init__(self, verifier: Verifier, witness: Mapping[str, Any] | None) -> None:
        self.verifier = verifier
        self.witness = witness

    def verify(self, conn: Connection) -> tuple[int, list[ChainProblem]]:
        problems: list[ChainProblem] = []
        roots = self._walk(conn, problems)
        size = len(roots) - 1
        self._check_checkpoints(conn, roots, size, problems)
        return size, problems

    def _walk(self, conn: Connection, problems: list[ChainProblem]) -> list[str]:
        """Check every event; return the Merkle root after each prefix (index = tree size)."""
        frontier = merkle.Frontier()
        roots = [frontier.root().hex()]
        prev_stored = GENESIS
        position = 0
        for raw in conn.execute(select(custody_events).order_by(custody_events.c.seq)):
            row = raw._mapping
            position += 1
            problems.extend(self._check_event(row, position, prev_stored))
            prev_stored = row["event_hash"]
            frontier.append(merkle.leaf_hash(_hex_or_zero(row["event_hash"])))
            roots.append(frontier.root().hex())
        return roots

    @staticmethod
    def _check_event(row: Mapping[Any, Any], position: int, prev: str) -> list[ChainProblem]:
        ref = str(row["event_id"])
        found: list[ChainProblem] = []
        if row["seq"] != position:
            found.append(
                ChainProblem(
                    "event",
                    ref,
                    position,
                    f"sequence number {row['seq']} stands at position {position}: "
                    "events were removed, inserted or reordered",
                )
            )
        if event_hash(row) != row["event_hash"]:
            found.append(
                ChainProblem("event", ref, position, "event content does not match its hash (edited)")
            )
        if row["prev_hash"] != prev:
            found.append(
                ChainProblem(
                    "event",
                    ref,
                    position,
                    "link to the previous event is broken: an event before it was removed, "
                    "inserted, edited or reordered",
                )
            )
        return found

    def _check_checkpoints(
        self, conn: Connection, roots: list[str], size: int, problems: list[ChainProblem]
    ) -> None:
        rows = [dict(r._mapping) for r in conn.execute(select(checkpoints).order_by(checkpoints.c.id))]
        for cp in rows:
            problems.extend(self._check_checkpoint(cp, roots, size))
        if size and (not rows or max(cp["tree_size"] for cp in rows) < size):
            covered = max((cp["tree_size"] for cp in rows), default=0)
            problems.append(
                ChainProblem(
                    "checkpoint",
                    "latest",
                    covered + 1,
                    f"events {covered + 1}..{size} are not covered by any signed checkpoint",
                )
            )
        if self.witness is not None:
            problems.extend(self._check_witness(rows, roots, size))

    def _check_checkpoint(self, cp: Mapping[str, Any], roots: list[str], size: int) -> list[ChainProblem]:
        ref = f"checkpoint:{cp['id']}"
        tree_size = int(cp["tree_size"])
        message = checkpoint_message(tree_size, cp["root_hash"], cp["signed_at"])
        if cp["key_id"] != self.verifier.key_id or not self.verifier.verify(cp["signature"], message):
            return [
                ChainProblem(
                    "checkpoint",
                    ref,
                    tree_size,
                    "signature does not verify with this installation's key",
                )
            ]
        if tree_size > size:
            return [
                ChainProblem(
                    "checkpoint",
                    ref,
                    tree_size,
                    f"signed for {tree_size} events but the log holds only {size}: events were removed",
                )
            ]
        if roots[tree_size] != cp["root_hash"]:
            return [
                ChainProblem(
                    "checkpoint",
                    ref,
                    tree_size,
                    f"Merkle root over events 1..{tree_size} differs from the signed root",
                )
            ]
        return []

    def _check_witness(self, rows: list[dict[str, Any]], roots: list[str], size: int) -> list[ChainProblem]:
        assert self.witness is not None
        tree_size = int(self.witness.get("tree_size", 0))
        signed = (tree_size, self.witness.get("root_hash"))
        if not any((cp["tree_size"], cp["root_hash"]) == signed for cp in rows):
            return [
                ChainProblem(
                    "checkpoint",
                    "witness",
                    tree_size,
                    "the checkpoint kept beside the signing key is missing from the database",
                )
            ]
        if tree_size > size or roots[tree_size] != signed[1]:
            return [
                ChainProblem(
                    "checkpoint",
                    "witness",
                    tree_size,
                    "the log no longer matches the checkpoint kept beside the signing key",
                )
            ]
        return []


def _hex_or_zero(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return bytes(32)
