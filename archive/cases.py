"""Cases: a purpose (data minimisation, RET-03), a review policy and members."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.engine.row import RowMapping

from archive.db import cases, utcnow
from archive.errors import InvalidRequest
from archive.home import Transaction
from archive.model import Case

__all__ = ["CaseError", "create_case", "get_case", "list_cases"]

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class CaseError(InvalidRequest):
    """A case cannot be made or found as asked."""


def _to_case(row: RowMapping) -> Case:
    return Case(
        id=row["id"],
        slug=row["slug"],
        purpose=row["purpose"],
        review_policy=row["review_policy"],
        created_at=row["created_at"],
        retention_until=row["retention_until"],
        category=row["category"],
    )


def create_case(
    tx: Transaction,
    slug: str,
    purpose: str,
    reviews: int = 1,
    *,
    category: str | None = None,
    review_on: datetime | None = None,
) -> Case:
    """A new case; ``review_on`` is its review date (RET-01), ``category`` a label (like a slug)."""
    if category is not None and not SLUG.match(category):
        raise CaseError(
            f"category {category!r} is not allowed: use 1-64 lowercase letters, digits, '-' or '_'"
        )
    if not SLUG.match(slug):
        raise CaseError(f"case name {slug!r} is not allowed: use 1-64 lowercase letters, digits, '-' or '_'")
    if not purpose.strip():
        raise CaseError("a case needs a purpose (data minimisation): say why it collects", field="purpose")
    if not 1 <= reviews <= 10:
        raise CaseError("the reviews needed for 'verified' must be between 1 and 10", field="reviews")
    if tx.conn.execute(select(cases.c.id).where(cases.c.slug == slug)).first() is not None:
        raise CaseError(f"case {slug!r} exists already")
    inserted = tx.conn.execute(
        cases.insert().values(
            slug=slug,
            purpose=purpose,
            review_policy=reviews,
            created_at=utcnow(),
            created_by=tx.actor,
            category=category,
            retention_until=review_on,
        )
    ).inserted_primary_key
    assert inserted is not None
    case_id = int(inserted[0])
    details: dict[str, object] = {"review_policy": reviews}
    if review_on is not None:
        details |= {"review_on": review_on.strftime("%Y-%m-%d"), "category": category}
    tx.event("case.created", case_id=case_id, details=details)
    return get_case(tx.conn, slug)


def get_case(conn: Connection, slug: str) -> Case:
    row = conn.execute(select(cases).where(cases.c.slug == slug)).mappings().first()
    if row is None:
        raise CaseError(f"no case named {slug!r}")
    return _to_case(row)


def list_cases(conn: Connection) -> list[Case]:
    return [_to_case(r) for r in conn.execute(select(cases).order_by(cases.c.slug)).mappings()]
