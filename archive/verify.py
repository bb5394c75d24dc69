"""Fixity and custody verification (PRE-02, COC-01): every blob re-hashed, the chain walked."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, select

from archive.custody import ChainVerifier
from archive.db import artifacts, item_artifacts, items
from archive.home import Home
from archive.timestamps import stored_token_problems

__all__ = ["Problem", "Report", "verify"]


@dataclass(frozen=True)
class Problem:
    kind: str  # blob | event | checkpoint | database
    ref: str
    position: int | None
    problem: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    blobs: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify(home: Home, case_id: int | None = None) -> Report:
    report = Report()
    for text in home.db.integrity_problems():
        report.problems.append(Problem("database", "integrity_check", None, text))
    with home.reading() as conn:
        query = select(artifacts.c.sha256).where(artifacts.c.removed_at.is_(None))
        if case_id is not None:
            linked = (
                select(item_artifacts.c.sha256)
                .join(items, items.c.id == item_artifacts.c.item_id)
                .where(and_(items.c.case_id == case_id))
            )
            query = query.where(artifacts.c.sha256.in_(linked))
        hashes = [r.sha256 for r in conn.execute(query.order_by(artifacts.c.sha256))]
        size, chain = ChainVerifier(home.signer.verifier, home.witness()).verify(conn)
        # Kept RFC 3161 tokens must still verify over their checkpoints (trusted timestamps).
        stamps = stored_token_problems(conn)
    for sha in hashes:
        report.blobs += 1
        now = home.blobs.rehash(sha)
        if now is None:
            report.problems.append(Problem("blob", sha, None, f"file missing: {home.blobs.locate(sha)}"))
        elif now != sha:
            report.problems.append(
                Problem(
                    "blob",
                    sha,
                    None,
                    f"content changed: {home.blobs.locate(sha)} now hashes to {now}",
                )
            )
    report.events = size
    report.problems.extend(Problem(p.kind, p.ref, p.position, p.problem) for p in chain)
    report.problems.extend(Problem("checkpoint", ref, at, problem) for ref, at, problem in stamps)
    return report
