"""Retention and review (RET-01): every case has a review date; nothing is ever erased automatically.

A case gets its review date at creation (``--review-on DATE``, else today plus the default period of
its category: the setting ``review_periods``, ``{"default": 365, "<category>": days}``), and it can
be moved later. A case past its date is *due*: ``wb case due`` and the app's "Due for review" queue
list the due cases the account may open. At review, a legal or admin member decides:

* keep until a new date: the date moves, and ``case.review_decided`` records the decision;
* erase: a deletion request is opened for every item of the case the decider may see, through the
  existing two-person erasure (a second legal or admin account approves each); the decision is
  recorded the same way, with the number of requests.

Events hold the case id, dates, counts and the SHA-256 of the reason, never the reason's text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update

from archive import cases as store
from archive.cases import CaseError
from archive.db import cases, items, settings, utcnow
from archive.errors import InvalidRequest
from archive.home import Home
from archive.model import Case
from workbench.services import access, auth, deletion
from workbench.services.auth import Account, Perm

__all__ = [
    "DEFAULT_PERIOD_DAYS",
    "CaseSummary",
    "ReviewDecision",
    "case_summary",
    "create_case",
    "decide_review",
    "due_cases",
    "parse_date",
    "set_review_date",
    "set_review_period",
]

DEFAULT_PERIOD_DAYS = 365
PERIODS_KEY = "review_periods"


@dataclass(frozen=True)
class ReviewDecision:
    case: str
    decision: str  # keep | erase
    keep_until: str | None
    requests: list[str]  # item ids with a deletion request opened by this decision
    skipped: list[str]  # item ids that already had one, or could not get one (shared with hidden items)


def parse_date(text: str) -> datetime:
    """A calendar date (YYYY-MM-DD) as the start of that day in UTC; InvalidRequest otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a date: write YYYY-MM-DD") from None
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _periods(home: Home) -> dict[str, int]:
    with home.reading() as conn:
        row = conn.execute(select(settings.c.value).where(settings.c.key == PERIODS_KEY)).first()
    value = row[0] if row is not None and isinstance(row[0], dict) else {}
    return {str(k): int(v) for k, v in value.items()}


def default_review_on(home: Home, category: str | None, start: datetime | None = None) -> datetime:
    """Today (or ``start``) plus the category's period, else the default period."""
    periods = _periods(home)
    days = periods.get(category or "", periods.get("default", DEFAULT_PERIOD_DAYS))
    moment = (start or utcnow()).astimezone(UTC)
    return datetime.combine(moment.date() + timedelta(days=days), time(0, 0), tzinfo=UTC)


def create_case(
    home: Home,
    by: Account,
    slug: str,
    purpose: str,
    reviews: int,
    *,
    category: str | None = None,
    review_on: datetime | None = None,
    via: str = "cli",
) -> Case:
    """A new case with its review date (admins); CaseError for a bad name, category or purpose."""
    if not auth.can(by, Perm.MANAGE_CASES):
        raise auth.refuse(home, by, Perm.MANAGE_CASES, via)
    when = review_on or default_review_on(home, category)
    with home.transaction(by.name, via) as tx:
        return store.create_case(tx, slug, purpose, reviews, category=category, review_on=when)


def _member_case(home: Home, by: Account, slug: str, perm: Perm, via: str) -> Case:
    with home.reading() as conn:
        case = store.get_case(conn, slug)
    auth.check_case(home, by, perm, case.id, via)
    return case


def due_cases(home: Home, by: Account, today: date | None = None) -> list[Case]:
    """The cases past their review date that this account may open, oldest date first."""
    day = today or utcnow().date()
    cutoff = datetime.combine(day, time(0, 0), tzinfo=UTC)
    with home.reading() as conn:
        ids = set(auth.case_ids_for(conn, by))
        found = [c for c in store.list_cases(conn) if c.id in ids]
    due = [c for c in found if c.retention_until is not None and c.retention_until <= cutoff]
    return sorted(due, key=lambda c: (c.retention_until or cutoff, c.slug))


def set_review_date(home: Home, by: Account, slug: str, when: datetime, via: str = "cli") -> Case:
    """Move a case's review date (legal or admin members)."""
    case = _member_case(home, by, slug, Perm.RETENTION, via)
    with home.transaction(by.name, via) as tx:
        tx.conn.execute(update(cases).where(cases.c.id == case.id).values(retention_until=when))
        tx.event("case.review_date_set", case_id=case.id, details={"review_on": when.strftime("%Y-%m-%d")})
    with home.reading() as conn:
        return store.get_case(conn, slug)


def set_review_period(home: Home, by: Account, category: str, days: int, via: str = "cli") -> dict[str, int]:
    """The default review period of a category ("default" for all others), in days (admins)."""
    if not store.SLUG.match(category):
        raise CaseError(f"category {category!r} is not allowed: use lowercase letters, digits, '-' or '_'")
    if not 1 <= days <= 36500:
        raise CaseError("the period is a number of days between 1 and 36500")
    periods = {**_periods(home), category: days}
    with home.transaction(by.name, via) as tx:
        auth.require(by, Perm.MANAGE_CASES, tx=tx)
        tx.conn.execute(settings.delete().where(settings.c.key == PERIODS_KEY))
        tx.conn.execute(settings.insert().values(key=PERIODS_KEY, value=periods))
        tx.event("settings.changed", details={"scope": PERIODS_KEY, "category": category, "days": days})
    return periods


def _reason_sha(reason: str) -> str:
    return hashlib.sha256(" ".join(reason.split()).encode()).hexdigest()


def decide_review(
    home: Home,
    by: Account,
    slug: str,
    *,
    keep_until: datetime | None = None,
    erase_reason: str | None = None,
    via: str = "cli",
) -> ReviewDecision:
    """Record the decision at a case's review (legal or admin members): keep until a date, or erase
    through the two-person deletion (requests opened here; nothing is erased until approved)."""
    if (keep_until is None) == (erase_reason is None):
        raise InvalidRequest("decide one thing: keep until a date, or erase (with the legal basis)")
    case = _member_case(home, by, slug, Perm.RETENTION, via)
    if keep_until is not None:
        if keep_until.date() <= utcnow().date():
            raise InvalidRequest("keep until a date after today")
        with home.transaction(by.name, via) as tx:
            tx.conn.execute(update(cases).where(cases.c.id == case.id).values(retention_until=keep_until))
            tx.event(
                "case.review_decided",
                case_id=case.id,
                details={"decision": "keep", "keep_until": keep_until.strftime("%Y-%m-%d")},
            )
        return ReviewDecision(slug, "keep", keep_until.strftime("%Y-%m-%d"), [], [])
    assert erase_reason is not None
    if not erase_reason.strip():
        raise InvalidRequest("an erasure needs a reason (the legal basis)")
    opened, skipped = _request_all(home, by, case, erase_reason, via)
    with home.transaction(by.name, via) as tx:
        tx.event(
            "case.review_decided",
            case_id=case.id,
            details={
                "decision": "erase",
                "requests": len(opened),
                "already_requested": len(skipped),
                "reason_sha256": _reason_sha(erase_reason),
            },
        )
    return ReviewDecision(slug, "erase", None, opened, skipped)


def _request_all(home: Home, by: Account, case: Case, reason: str, via: str) -> tuple[list[str], list[str]]:
    """A deletion request for each live item of the case the account may see (one per erasure set)."""
    with home.reading() as conn:
        rows = conn.execute(
            select(items.c.id)
            .where(items.c.case_id == case.id, items.c.deleted_at.is_(None), access.visible_clause(by))
            .order_by(items.c.id)
        ).all()
    opened: list[str] = []
    skipped: list[str] = []
    covered: set[str] = set()
    for (item_id,) in rows:
        if item_id in covered:
            continue  # erased with an item whose request is open already (shares its files)
        try:
            req = deletion.request_deletion(home, by, str(item_id), reason, via=via)
        except (deletion.DeletionError, auth.AccessDenied):
            # Already requested, or it shares its files with items the decider may not see (its
            # refusal is logged): skipped, and the decision is still recorded for the rest.
            skipped.append(str(item_id))
            continue
        opened.append(str(item_id))
        covered.update(req.item_ids)
    return opened, skipped


@dataclass(frozen=True)
class CaseSummary:
    """A case's review fields: when it is due for review, and how many days past that it is."""

    case: str
    id: int
    category: str | None
    review_on: str | None  # YYYY-MM-DD
    days_overdue: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "id": self.id,
            "category": self.category,
            "review_on": self.review_on,
            "days_overdue": self.days_overdue,
        }


def case_summary(case: Case, today: date | None = None) -> CaseSummary:
    """A case's review fields for output."""
    day = today or utcnow().date()
    review_on = case.retention_until
    return CaseSummary(
        case=case.slug,
        id=case.id,
        category=case.category,
        review_on=None if review_on is None else review_on.strftime("%Y-%m-%d"),
        days_overdue=None if review_on is None else (day - review_on.date()).days,
    )
