"""The verification workflow: judgements, independent blind reviews, disputes, adjudication (VER-01..07).

- Every judgement is a new row of ``judgements``; nothing is updated or deleted. A reviewer's latest
  review counts; earlier ones stay in the history.
- The item's status follows from the reviews: fewer than the case's review policy -> "in_progress"
  (awaiting independent review); all latest reviews agree -> their status; any two differ ->
  "disputed". A named adjudicator (not one of the reviewers) resolves a dispute with a rationale.
- ``reviews_for`` hides earlier conclusions from a user who has not yet submitted their own, until
  the review phase is over (enough reviews in, a dispute, or an adjudication); legal staff, who
  never judge, see everything.
- "verified" needs a rationale and at least one non-empty strand (source, technical or content
  analysis, VER-02). Machine indicators (flags) never enter here: they are "automated indicators".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import cases, items, judgements, notes, utcnow
from archive.errors import InvalidRequest
from archive.home import Home, Transaction
from archive.model import CONFIDENCE_DEFINITIONS, Confidence, Role, Status
from workbench.services.access import NOT_FOUND, authorise, find_visible
from workbench.services.auth import AccessDenied, Account, Perm

__all__ = [
    "CONFIDENCE_DEFINITIONS",
    "confidence_scale",
    "MethodStep",
    "Outcome",
    "Review",
    "ReviewError",
    "ReviewView",
    "StaleForm",
    "STRANDS",
    "StrandError",
    "add_method_step",
    "adjudicate",
    "hidden_reviewers",
    "method_steps",
    "parse_confidence",
    "review_state",
    "reviews_for",
    "reviews_of",
    "strands_empty",
    "submit_review",
    "validate_strands",
]

MAX_RATIONALE = 20_000
MAX_FIELD = 5_000
STRANDS = ("source_analysis", "technical_analysis", "content_analysis")
# Source analysis sub-findings named by the Berkeley Protocol (VER-02); free text each.
SOURCE_FIELDS = ("provenance", "credibility", "independence", "specificity", "attenuation")
TEXT_FIELDS = ("method", "note", *SOURCE_FIELDS)


class StrandError(InvalidRequest, ValueError):
    """A strand of analysis that does not have the expected shape."""


class ReviewError(InvalidRequest, ValueError):
    """A judgement that cannot be recorded as given (the message says why)."""


@dataclass(frozen=True)
class Review:
    id: int
    item_id: str
    reviewer: str
    kind: str  # review | adjudication
    status: str
    confidence: int
    rationale: str
    strands: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    judgement_id: int
    item_status: str
    state: str  # a sentence for people: "awaiting independent review (1 of 2)", "disputed", ...


@dataclass(frozen=True)
class ReviewView:
    """What a user may see of an item's reviews right now."""

    visible: list[Review]
    hidden: int  # reviews by others, hidden until the user submits their own
    own_submitted: bool
    state: str
    last_id: int = 0  # the newest judgement's id (0: none): what a form was drawn against


class StaleForm(ReviewError):
    """The item's reviews changed since the form was drawn (a second click, or another person's
    review or adjudication in between): the submission is discarded, nothing is recorded."""


def confidence_scale() -> dict[str, str]:
    """The confidence scale with its definitions, as it travels with every export (VER-03)."""
    return {
        str(int(k)): f"{k.name.replace('_', ' ').lower()}: {v}" for k, v in CONFIDENCE_DEFINITIONS.items()
    }


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StrandError(f"{where} must be text")
    if len(value) > MAX_FIELD:
        raise StrandError(f"{where} is longer than {MAX_FIELD} characters")
    return value.strip()


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= float(value) <= high:
        raise StrandError(f"{where} must be a number between {low} and {high}")
    return float(value)


def _links(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > 100:
        raise StrandError(f"{where} must be a list of links (at most 100)")
    return [v for v in (_text(x, where) for x in value) if v]


def _geolocation(raw: Any) -> dict[str, Any]:
    """WGS84 lat/lon, an uncertainty radius in metres and the reference imagery used (VER-06)."""
    if not isinstance(raw, dict):
        raise StrandError("geolocation must be an object with lat, lon, radius_m")
    geo: dict[str, Any] = {
        "lat": _number(raw.get("lat"), "geolocation.lat", -90, 90),
        "lon": _number(raw.get("lon"), "geolocation.lon", -180, 180),
        "radius_m": _number(raw.get("radius_m"), "geolocation.radius_m", 0, 20_037_509),
    }
    refs = raw.get("reference_imagery", [])
    if isinstance(refs, dict):
        refs = [refs]
    if not isinstance(refs, list):
        raise StrandError("geolocation.reference_imagery must be a list of {source, date}")
    geo["reference_imagery"] = [
        {k: _text(r.get(k, ""), f"reference_imagery.{k}") for k in ("source", "date")}
        for r in refs
        if isinstance(r, dict)
    ]
    return geo


def _chronolocation(raw: Any) -> dict[str, Any]:
    """A time window with its time zone (VER-06)."""
    if not isinstance(raw, dict):
        raise StrandError("chronolocation must be an object with start, end, timezone")
    out = {k: _text(raw.get(k, ""), f"chronolocation.{k}") for k in ("start", "end", "timezone")}
    if not out["start"] or not out["timezone"]:
        raise StrandError("chronolocation needs at least a start and a timezone")
    return out


def _strand(name: str, raw: Any) -> dict[str, Any]:
    if raw in (None, "", {}):
        return {}
    if not isinstance(raw, dict):
        raise StrandError(f"{name} must be an object with method, evidence_links and note")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in TEXT_FIELDS:
            out[key] = _text(value, f"{name}.{key}")
        elif key == "evidence_links":
            out[key] = _links(value, f"{name}.evidence_links")
        elif key == "geolocation" and name == "content_analysis":
            out[key] = _geolocation(value)
        elif key == "chronolocation" and name == "content_analysis":
            out[key] = _chronolocation(value)
        else:
            raise StrandError(f"{name} has an unknown field {key!r}")
    return {k: v for k, v in out.items() if v not in ("", [], {})}


def validate_strands(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The three strands in a checked, normalised form (empty strands are ``{}``)."""
    unknown = set(raw) - set(STRANDS)
    if unknown:
        raise StrandError(f"unknown strand(s): {', '.join(sorted(unknown))}")
    return {name: _strand(name, raw.get(name)) for name in STRANDS}


def strands_empty(strands: Mapping[str, Any]) -> bool:
    """True when none of the three strands holds anything."""
    return not any(strands.get(name) for name in STRANDS)


def parse_confidence(value: str | int) -> Confidence:
    """1-5 or a name (very_low ... very_high)."""
    try:
        if isinstance(value, int) or str(value).strip().isdigit():
            return Confidence(int(value))
        return Confidence[str(value).strip().upper().replace(" ", "_").replace("-", "_")]
    except (KeyError, ValueError):
        names = ", ".join(f"{c.value}={c.name.lower()}" for c in Confidence)
        raise ReviewError(f"unknown confidence {value!r}: use {names}") from None


def _parse_status(value: str) -> Status:
    try:
        return Status(re.sub(r"[\s-]+", "_", value.strip().lower()))
    except ValueError:
        raise ReviewError(f"unknown status {value!r}: use {', '.join(s.value for s in Status)}") from None


def _to_review(r: Any) -> Review:
    return Review(
        id=int(r["id"]),
        item_id=r["item_id"],
        reviewer=r["reviewer"],
        kind=r["kind"],
        status=r["status"],
        confidence=int(r["confidence"]),
        rationale=r["rationale"],
        strands=dict(r["strands"] or {}),
        created_at=r["created_at"],
    )


def _all_reviews(conn: Connection, item_id: str) -> list[Review]:
    q = select(judgements).where(judgements.c.item_id == item_id).order_by(judgements.c.id)
    return [_to_review(r) for r in conn.execute(q).mappings()]


def _policy(conn: Connection, item_id: str) -> int:
    q = select(cases.c.review_policy).join(items, items.c.case_id == cases.c.id).where(items.c.id == item_id)
    return int(conn.execute(q).scalar_one())


def _latest_per_reviewer(history: list[Review]) -> dict[str, Review]:
    latest: dict[str, Review] = {}
    for r in history:
        if r.kind == "review":
            latest[r.reviewer] = r
    return latest


def derive_status(history: list[Review], policy: int) -> tuple[str, str]:
    """(status, a sentence for people) from the full history and the case's review policy."""
    adjudications = [r for r in history if r.kind == "adjudication"]
    if adjudications:
        last = adjudications[-1]
        return last.status, f"{last.status} (adjudicated by {last.reviewer})"
    latest = _latest_per_reviewer(history)
    if not latest:
        return Status.UNVERIFIED.value, Status.UNVERIFIED.value
    if len({r.status for r in latest.values()}) > 1:
        return Status.DISPUTED.value, "disputed: independent reviews differ; awaiting adjudication"
    if len(latest) < policy:
        return Status.IN_PROGRESS.value, f"awaiting independent review ({len(latest)} of {policy})"
    status = next(iter(latest.values())).status
    return status, status


def review_state(conn: Connection, item_id: str) -> tuple[str, str]:
    """The item's derived (status, sentence)."""
    return derive_status(_all_reviews(conn, item_id), _policy(conn, item_id))


def _check_text(rationale: str) -> str:
    text = rationale.strip()
    if not text:
        raise ReviewError("every status change needs a written rationale")
    if len(text) > MAX_RATIONALE:
        raise ReviewError(f"the rationale is longer than {MAX_RATIONALE} characters")
    return text


def _apply_status(tx: Transaction, item_id: str, case_id: int, judgement_id: int) -> tuple[str, str]:
    before = tx.conn.execute(select(items.c.status).where(items.c.id == item_id)).scalar_one()
    status, state = derive_status(_all_reviews(tx.conn, item_id), _policy(tx.conn, item_id))
    if status != before:
        tx.conn.execute(items.update().where(items.c.id == item_id).values(status=status))
        tx.event(
            "item.status_changed",
            case_id=case_id,
            item_id=item_id,
            details={"before": before, "after": status, "judgement_id": judgement_id},
        )
    return status, state


def _check_fresh(history: list[Review], expect_last: int | None) -> None:
    """Discard a submission made against reviews that have changed since its form was drawn."""
    newest = history[-1].id if history else 0
    if expect_last is not None and newest != expect_last:
        raise StaleForm(
            "not recorded: the reviews of this item changed since this form was shown (a second "
            "click, or someone else's review or adjudication). Check the review state, then submit again."
        )


def _insert(
    tx: Transaction,
    item_id: str,
    kind: str,
    status: Status,
    conf: Confidence,
    text: str,
    strands: dict[str, Any],
) -> int:
    inserted = tx.conn.execute(
        judgements.insert().values(
            item_id=item_id,
            reviewer=tx.actor,
            kind=kind,
            status=status.value,
            confidence=int(conf),
            rationale=text,
            strands=strands,
            created_at=utcnow(),
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def submit_review(
    home: Home,
    account: Account,
    item_id: str,
    status: str,
    confidence: str | int,
    rationale: str,
    strands: Mapping[str, Any] | None = None,
    *,
    independent: bool = False,
    via: str = "app",
    expect_last: int | None = None,
) -> Outcome:
    """Record a judgement (``independent``: refuse if this user already reviewed the item;
    ``expect_last``: the ``ReviewView.last_id`` the form was drawn against, else ``StaleForm``)."""
    parsed = _parse_status(status)
    if parsed is Status.DISPUTED:
        raise ReviewError("'disputed' is set by differing reviews, not chosen")
    conf = parse_confidence(confidence)
    text = _check_text(rationale)
    clean = validate_strands(strands or {})
    if parsed is Status.VERIFIED and strands_empty(clean):
        raise ReviewError("'verified' needs at least one of source, technical or content analysis")
    row = authorise(home, account, item_id, Perm.JUDGE, via)
    with home.transaction(account.name, via) as tx:
        history = _all_reviews(tx.conn, row.id)
        _check_fresh(history, expect_last)
        if independent and any(r.reviewer == account.name and r.kind == "review" for r in history):
            raise ReviewError(
                "you have already reviewed this item: an independent review is another person's"
            )
        jid = _insert(tx, row.id, "review", parsed, conf, text, clean)
        tx.event(
            "judgement.recorded",
            case_id=row.case_id,
            item_id=row.id,
            # No status or confidence here: the custody log is readable by other reviewers (wb log),
            # and an independent review must stay blind until its reader has submitted their own.
            details={"judgement_id": jid, "kind": "review"},
        )
        item_status, state = _apply_status(tx, row.id, row.case_id, jid)
    return Outcome(jid, item_status, state)


def adjudicate(
    home: Home,
    account: Account,
    item_id: str,
    status: str,
    rationale: str,
    confidence: str | int | None = None,
    strands: Mapping[str, Any] | None = None,
    via: str = "app",
    expect_last: int | None = None,
) -> Outcome:
    """Resolve a dispute. The adjudicator is named (the acting account) and did not review the item.

    Without ``confidence`` the lowest confidence among the reviews is used: the conservative reading.
    ``expect_last``: as for ``submit_review``.
    """
    parsed = _parse_status(status)
    if parsed is Status.DISPUTED:
        raise ReviewError("an adjudication resolves the dispute: choose a status other than 'disputed'")
    text = _check_text(rationale)
    clean = validate_strands(strands or {})
    row = authorise(home, account, item_id, Perm.ADJUDICATE, via)
    with home.transaction(account.name, via) as tx:
        history = _all_reviews(tx.conn, row.id)
        _check_fresh(history, expect_last)
        current, _ = derive_status(history, _policy(tx.conn, row.id))
        if current != Status.DISPUTED.value:
            raise ReviewError(f"only a disputed item is adjudicated; this one is {current}")
        latest = _latest_per_reviewer(history)
        if account.name in latest:
            raise ReviewError("an adjudicator must not be one of the disputing reviewers")
        if (
            parsed is Status.VERIFIED
            and strands_empty(clean)
            and all(strands_empty(r.strands) for r in latest.values())
        ):
            raise ReviewError("'verified' needs at least one of source, technical or content analysis")
        conf = (
            parse_confidence(confidence)
            if confidence is not None
            else Confidence(min(r.confidence for r in latest.values()))
        )
        jid = _insert(tx, row.id, "adjudication", parsed, conf, text, clean)
        tx.event(
            "judgement.adjudicated",
            case_id=row.case_id,
            item_id=row.id,
            details={"judgement_id": jid, "status": parsed.value, "confidence": int(conf)},
        )
        item_status, state = _apply_status(tx, row.id, row.case_id, jid)
    return Outcome(jid, item_status, state)


def _blind(account: Account, history: list[Review], policy: int) -> bool:
    """Whether earlier conclusions are hidden from this user now (VER-04): they have not submitted
    their own review, the review phase is not over, and they are not legal staff (who never judge)."""
    status, _ = derive_status(history, policy)
    latest = _latest_per_reviewer(history)
    own = account.name in latest
    phase_over = status != Status.IN_PROGRESS.value or len(latest) >= policy
    return bool(history) and not (own or phase_over or account.role is Role.LEGAL)


def hidden_reviewers(conn: Connection, account: Account, item_id: str) -> frozenset[str]:
    """The reviewers whose work on the item is hidden from the account right now (blind review).

    Their reviews, their method steps and their custody events (``workbench.services.timeline``) are left out
    of what the account is shown, in the app, ``wb log`` and ``wb report``, until it submits its own.
    """
    history = _all_reviews(conn, item_id)
    if not _blind(account, history, _policy(conn, item_id)):
        return frozenset()
    return frozenset(r.reviewer for r in history if r.reviewer != account.name)


def reviews_for(conn: Connection, account: Account, item_id: str) -> ReviewView:
    """The reviews this user may see now (blind until their own is in, VER-04)."""
    row = find_visible(conn, account, item_id)
    if row is None:
        raise AccessDenied(NOT_FOUND)
    history = _all_reviews(conn, row.id)
    policy = _policy(conn, row.id)
    _status, state = derive_status(history, policy)
    own = account.name in _latest_per_reviewer(history)
    last = history[-1].id if history else 0
    if not _blind(account, history, policy):
        return ReviewView(history, 0, own, state, last)
    return ReviewView([], len(history), own, state, last)


def reviews_of(home: Home, account: Account, item_id: str, via: str = "cli") -> ReviewView:
    """``reviews_for`` from a front end: a hidden or absent item is one logged refusal (``wb reviews``)."""
    row = authorise(home, account, item_id, Perm.READ, via)
    with home.reading() as conn:
        return reviews_for(conn, account, row.id)


@dataclass(frozen=True)
class MethodStep:
    id: int
    author: str
    tool: str
    query: str
    result: str
    performed_at: str
    created_at: datetime


def add_method_step(
    home: Home,
    account: Account,
    item_id: str,
    tool: str,
    query: str,
    result: str,
    performed_at: str = "",
    via: str = "app",
) -> int:
    """Append a repeatable step (tool, query, result, date) to the item's methodology log (VER-07)."""
    if not tool.strip() or not result.strip():
        raise ReviewError("a method step needs at least the tool and the result")
    body = {
        "tool": tool.strip()[:500],
        "query": query.strip()[:5000],
        "result": result.strip()[:5000],
        "performed_at": performed_at.strip()[:64] or utcnow().strftime("%Y-%m-%d"),
    }
    row = authorise(home, account, item_id, Perm.ANNOTATE, via)
    with home.transaction(account.name, via) as tx:
        inserted = tx.conn.execute(
            notes.insert().values(
                item_id=row.id, kind="method_step", author=account.name, body=body, created_at=utcnow()
            )
        ).inserted_primary_key
        assert inserted is not None
        nid = int(inserted[0])
        tx.event(
            "note.added", case_id=row.case_id, item_id=row.id, details={"note_id": nid, "kind": "method_step"}
        )
    return nid


def method_steps(conn: Connection, account: Account, item_id: str) -> list[MethodStep]:
    """The methodology log in the order the steps were recorded, less the steps of reviewers whose
    reviews are still hidden from the account (blind review: a step's result can show a conclusion)."""
    if find_visible(conn, account, item_id) is None:
        raise AccessDenied(NOT_FOUND)
    hidden = hidden_reviewers(conn, account, item_id)
    q = (
        select(notes)
        .where(notes.c.item_id == item_id, notes.c.kind == "method_step", notes.c.deleted_at.is_(None))
        .where(notes.c.author.not_in(sorted(hidden)))
        .order_by(notes.c.id)
    )
    out = []
    for r in conn.execute(q).mappings():
        b = dict(r["body"] or {})
        out.append(
            MethodStep(
                int(r["id"]),
                r["author"],
                str(b.get("tool", "")),
                str(b.get("query", "")),
                str(b.get("result", "")),
                str(b.get("performed_at", "")),
                r["created_at"],
            )
        )
    return out
