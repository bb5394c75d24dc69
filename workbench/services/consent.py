"""Consent records of the people in the material (CON-02), kept in the ``consents`` table.

A record names the subject by a pseudonym (never a name), the date consent was given, the recipient
types it covers (court, un_mechanism, partner, media, public), identity options (hide name, face,
location) and, once withdrawn, the withdrawal date. Exports read these records: outside the scope an
item is withheld, and a withdrawal withholds it from every export. Custody events hold the consent id,
scopes and action only; the pseudonym stays in the table.

Who may act: consent is recorded and withdrawn by analysts (who document the material), legal staff
(who decide what leaves) and admins, never by reviewers; the account must be a member of the item's
case and able to see the item (assigned, for survivor-identifying and sexual-violence items). The
records are listed to anyone who may see the item. Every refusal is one ``access.denied`` event with
the true channel, and the caller learns nothing about whether a hidden item exists.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from archive.db import consents, items, utcnow
from archive.errors import InvalidRequest
from archive.export.gather import jsonable
from archive.export.profiles import RecipientType
from archive.home import Home
from archive.model import Role
from workbench.services import access, auth
from workbench.services.auth import Account, Perm

__all__ = [
    "CONSENT_ROLES",
    "IDENTITY_OPTIONS",
    "IdentityOption",
    "SCOPES",
    "Consent",
    "ConsentError",
    "add_consent",
    "consent_state",
    "hidden_options",
    "item_consents",
    "list_consents",
    "may_change",
    "withdraw_consent",
]


class IdentityOption(enum.StrEnum):
    """What of a person a consent record may ask to hide."""

    NAME = "name"
    FACE = "face"
    LOCATION = "location"

    @property
    def key(self) -> str:
        """Its key in ``consents.identity_options`` (``hide_face`` ...)."""
        return f"hide_{self.value}"


# The recipient types a consent may cover: all but the organisation itself (``internal``).
SCOPES = tuple(r.value for r in RecipientType if r is not RecipientType.INTERNAL)
IDENTITY_OPTIONS = tuple(o.value for o in IdentityOption)
PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONSENT_ROLES = frozenset({Role.ANALYST, Role.LEGAL, Role.ADMIN})


def hidden_options(identity_options: Mapping[str, Any] | None) -> list[IdentityOption]:
    """What a consent record asks to hide (its stored ``identity_options``)."""
    return [o for o in IdentityOption if (identity_options or {}).get(o.key)]


@dataclass(frozen=True)
class Consent:
    """One person's consent on an item: the recipient types it covers and what to hide of them."""

    id: int
    item_id: str
    subject: str  # a pseudonym, never a name
    given_on: str  # UTC text
    scopes: list[str]
    identity_options: dict[str, Any]
    withdrawn_on: str | None  # UTC text, once withdrawn
    recorded_by: str

    @property
    def hidden(self) -> list[IdentityOption]:
        """What the record asks to hide, of ``IDENTITY_OPTIONS``."""
        return hidden_options(self.identity_options)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "subject": self.subject,
            "given_on": self.given_on,
            "scopes": self.scopes,
            "identity_options": self.identity_options,
            "withdrawn_on": self.withdrawn_on,
            "recorded_by": self.recorded_by,
        }


class ConsentError(InvalidRequest, ValueError):
    """A consent record cannot be made or changed as asked."""


def _day(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConsentError(f"date {text!r} is not YYYY-MM-DD") from None


def _item_case(conn: Connection, item_id: str) -> int:
    row = conn.execute(select(items.c.case_id, items.c.deleted_at).where(items.c.id == item_id)).first()
    if row is None:
        raise ConsentError(f"no item {item_id!r}")
    if row.deleted_at is not None:
        raise ConsentError(f"item {item_id} was deleted")
    return int(row.case_id)


def may_change(by: Account) -> bool:
    """Whether the account's role may record or withdraw consent (pages use it to show the form)."""
    return auth.can(by, Perm.READ) and by.role in CONSENT_ROLES


def _may_change(home: Home, by: Account, item_id: str, via: str) -> None:
    """Role first (logged refusal naming the permission), then membership and visibility."""
    if not may_change(by):
        with home.transaction(by.name, via) as tx:
            error = auth.deny(tx, by, "record consent", item_id=item_id[:32])
        raise error
    access.authorise(home, by, item_id, Perm.READ, via)


def add_consent(
    home: Home,
    by: Account,
    item_id: str,
    subject: str,
    scopes: Sequence[str],
    *,
    given_on: str | None = None,
    hide: Sequence[str] = (),
    via: str = "cli",
) -> int:
    """Record a consent; returns its id."""
    if not PSEUDONYM.match(subject):
        raise ConsentError("the subject is a pseudonym such as P-001 (letters, digits, '.', '_', '-')")
    bad = sorted(set(scopes) - set(SCOPES)) + sorted(set(hide) - set(IDENTITY_OPTIONS))
    if bad:
        raise ConsentError(f"unknown scope or identity option: {', '.join(bad)}")
    chosen = [s for s in SCOPES if s in set(scopes)]
    _may_change(home, by, item_id, via)
    with home.transaction(by.name, via) as tx:
        case_id = _item_case(tx.conn, item_id)
        inserted = tx.conn.execute(
            consents.insert().values(
                item_id=item_id,
                subject=subject,
                given_on=_day(given_on),
                scopes=chosen,
                identity_options={o.key: o in set(hide) for o in IdentityOption},
                recorded_by=by.name,
            )
        ).inserted_primary_key
        assert inserted is not None
        consent_id = int(inserted[0])
        tx.event(
            "consent.recorded",
            case_id=case_id,
            item_id=item_id,
            details={"consent_id": consent_id, "scopes": chosen},
        )
    return consent_id


def withdraw_consent(
    home: Home, by: Account, item_id: str, subject: str, *, on: str | None = None, via: str = "cli"
) -> list[int]:
    """Withdraw every open consent of ``subject`` on the item; returns the consent ids withdrawn."""
    _may_change(home, by, item_id, via)
    with home.transaction(by.name, via) as tx:
        case_id = _item_case(tx.conn, item_id)
        ids = [
            int(r.id)
            for r in tx.conn.execute(
                select(consents.c.id).where(
                    consents.c.item_id == item_id,
                    consents.c.subject == subject,
                    consents.c.withdrawn_on.is_(None),
                )
            )
        ]
        if not ids:
            raise ConsentError(f"no open consent of {subject!r} on item {item_id}")
        tx.conn.execute(update(consents).where(consents.c.id.in_(ids)).values(withdrawn_on=_day(on)))
        for consent_id in ids:
            tx.event(
                "consent.withdrawn", case_id=case_id, item_id=item_id, details={"consent_id": consent_id}
            )
    return ids


def list_consents(home: Home, by: Account, item_id: str, via: str = "cli") -> list[Consent]:
    """The item's consent records, for an account that may see the item (a refusal is logged)."""
    access.authorise(home, by, item_id, Perm.READ, via)
    with home.reading() as conn:
        return item_consents(conn, item_id)


def item_consents(conn: Connection, item_id: str) -> list[Consent]:
    """The consent records of an item, unchecked: for callers that have checked access already."""
    rows = conn.execute(select(consents).where(consents.c.item_id == item_id).order_by(consents.c.id))
    return [Consent(**jsonable(r)) for r in rows.mappings()]


def consent_state(records: Sequence[Consent]) -> str:
    """What an item shows: "consent withdrawn", "no consent record", or the recipient types that
    every record names (what an export may reach: each record is one person's consent), e.g.
    "consent: court, un_mechanism" or "consent: no recipient outside the organisation"."""
    if any(r.withdrawn_on for r in records):
        return "consent withdrawn"
    if not records:
        return "no consent record"
    common = set(SCOPES)
    for r in records:
        common &= set(r.scopes or [])
    return "consent: " + (
        ", ".join(s for s in SCOPES if s in common) or "no recipient outside the organisation"
    )
