"""Local accounts, roles, case membership and the permission check used on every data access (SEC-04).

Roles are analyst, reviewer, legal and admin. ``require`` is called by the library functions that read
or change data, given the acting ``Account``; the pages never decide access by hiding a button.
Refusals raise ``AccessDenied`` and, where the caller passes a transaction, are written to the custody
log as ``access.denied`` (CON-01, SEC-04). Role changes are custody events (``user.role_changed``).

Exceptions::

    AuthError
     +-- AccessDenied      the account may not do this (or the thing is invisible to it)
     +-- SessionExpired    the idle timeout passed
     +-- BadAccount        unknown name, wrong password, or bad account data
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import case_members, cases, settings, users, utcnow
from archive.errors import Refused, WorkbenchError
from archive.home import Home, Transaction
from archive.model import Role

__all__ = [
    "AccessDenied",
    "Account",
    "AuthError",
    "BadAccount",
    "DEFAULT_IDLE_MINUTES",
    "HASHER",
    "Perm",
    "ROLE_PERMISSIONS",
    "Role",
    "Session",
    "SessionExpired",
    "account_by_name",
    "account_from_row",
    "add_member",
    "add_user",
    "authenticate",
    "can",
    "check_case",
    "case_ids_for",
    "current_account",
    "deny",
    "logged_item_id",
    "idle_minutes",
    "is_member",
    "list_members",
    "list_users",
    "refuse",
    "require",
    "require_case",
    "set_role",
]

DEFAULT_IDLE_MINUTES = 15
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
# Module-level so that tests may build many accounts with cheaper parameters; the hash records its
# own parameters, so verification works whatever made it.
HASHER = PasswordHasher()


class AuthError(WorkbenchError):
    """Base of the access errors: who acts is not established (exit 2, nothing changed)."""

    exit_code: ClassVar[int] = 2


class AccessDenied(Refused, AuthError):
    """The account may not do this; for items it cannot see, the message never says the item exists."""


class SessionExpired(AuthError):
    """The session was idle longer than the configured timeout."""


class BadAccount(AuthError):
    """Unknown account, wrong password, or account data that is not allowed."""


class Perm(enum.StrEnum):
    READ = "read"  # see a case's items (subject to item visibility, see access.py)
    CAPTURE = "capture"
    JUDGE = "judge"  # record a judgement or an independent review
    ADJUDICATE = "adjudicate"
    ANNOTATE = "annotate"  # tags, classification, notes, method steps, descriptions
    ASSIGN = "assign"  # give a user access to a sensitive item
    EXPORT = "export"
    ACCESS_REPORT = "access_report"  # "who viewed item X"
    MANAGE_CASES = "manage_cases"
    MANAGE_USERS = "manage_users"
    SET_MINIMUMS = "set_minimums"  # viewing-setting minimums for everyone
    MAINTAIN = "maintain"  # fixity runs over the whole home, the time-stamping authority's settings
    RETENTION = "retention"  # review dates of cases and the decision at review (keep until, or erase)
    MANAGE_CAPTURE = "manage_capture"  # capture targets allowed past the guard, for the whole home


ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ANALYST: frozenset({Perm.READ, Perm.CAPTURE, Perm.JUDGE, Perm.ANNOTATE, Perm.ASSIGN}),
    Role.REVIEWER: frozenset({Perm.READ, Perm.JUDGE, Perm.ADJUDICATE, Perm.ANNOTATE}),
    # Legal staff read verified material, export it, answer "who viewed X" and decide at a case's review
    # date whether it is kept; they change no evidence.
    Role.LEGAL: frozenset({Perm.READ, Perm.EXPORT, Perm.ACCESS_REPORT, Perm.RETENTION}),
    Role.ADMIN: frozenset(Perm),
}


@dataclass(frozen=True)
class Account:
    """A logged-in (or command-line) user as the permission checks see it."""

    id: int
    name: str
    role: Role
    active: bool = True
    settings: dict[str, Any] = field(default_factory=dict, compare=False)


def account_from_row(row: Any) -> Account:
    """An Account from a ``users`` row mapping."""
    return Account(
        id=int(row["id"]),
        name=str(row["name"]),
        role=Role(row["role"]),
        active=bool(row["active"]),
        settings=dict(row["settings"] or {}),
    )


def account_by_name(conn: Connection, name: str) -> Account | None:
    """The account of that name, or None."""
    row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    return None if row is None else account_from_row(row)


def list_users(conn: Connection) -> list[Account]:
    """All accounts, by name."""
    return [account_from_row(r) for r in conn.execute(select(users).order_by(users.c.name)).mappings()]


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadAccount(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from None


def add_user(tx: Transaction, by: Account | None, name: str, role: str, password: str) -> Account:
    """Create an account with an argon2 password hash. The first account needs no creator."""
    if not NAME.match(name):
        raise BadAccount(f"user name {name!r} is not allowed: letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD:
        raise BadAccount(f"the password must have at least {MIN_PASSWORD} characters")
    parsed = _parse_role(role)
    first = tx.conn.execute(select(users.c.id).limit(1)).first() is None
    if not first:
        require(by, Perm.MANAGE_USERS, tx=tx)
    if account_by_name(tx.conn, name) is not None:
        raise BadAccount(f"user {name!r} exists already")
    inserted = tx.conn.execute(
        users.insert().values(
            name=name,
            role=parsed.value,
            password_hash=HASHER.hash(password),
            active=True,
            settings={},
            created_at=utcnow(),
        )
    ).inserted_primary_key
    assert inserted is not None
    tx.event("user.created", details={"user_id": int(inserted[0]), "role": parsed.value})
    account = account_by_name(tx.conn, name)
    assert account is not None
    return account


def set_role(tx: Transaction, by: Account | None, name: str, role: str) -> Account:
    """Change an account's role (admins only); audited with the role before and after."""
    require(by, Perm.MANAGE_USERS, tx=tx)
    target = account_by_name(tx.conn, name)
    if target is None:
        raise BadAccount(f"no user named {name!r}")
    parsed = _parse_role(role)
    tx.conn.execute(users.update().where(users.c.id == target.id).values(role=parsed.value))
    tx.event(
        "user.role_changed",
        details={"user_id": target.id, "role_before": target.role.value, "role_after": parsed.value},
    )
    return Account(target.id, target.name, parsed, target.active, target.settings)


def authenticate(conn: Connection, name: str, password: str) -> Account:
    """The account if the password matches; one message for every failure (no user enumeration)."""
    row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    failure = BadAccount("unknown user or wrong password")
    if row is None or not row["password_hash"] or not row["active"]:
        # Hash anyway so that timing does not tell which names exist.
        HASHER.hash(password)
        raise failure
    try:
        HASHER.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        raise failure from None
    return account_from_row(row)


def can(account: Account | None, perm: Perm) -> bool:
    """Whether the account's role carries the permission (membership is checked separately)."""
    return account is not None and account.active and perm in ROLE_PERMISSIONS[account.role]


ITEM_ID_SHAPE = re.compile(r"[0-9a-f]{1,32}")


def logged_item_id(value: Any) -> str | None:
    """What a refusal may record as the item asked for: an item id's shape (hex), else nothing.

    The custody log is never erased and holds no personal text, and whatever a user typed where an
    id belongs (a name, a caption) would otherwise stay in it for good."""
    text = str(value) if value is not None else ""
    return text if ITEM_ID_SHAPE.fullmatch(text) else None


def deny(tx: Transaction | None, account: Account | None, perm: str, **where: Any) -> AccessDenied:
    """Record a refusal in the custody log (when a transaction is given) and return the error."""
    if tx is not None:
        if "item_id" in where:
            where["item_id"] = logged_item_id(where["item_id"])
        # Kept: the refusal usually ends the transaction, and its rollback must not erase the record.
        tx.event_kept("access.denied", details={"permission": perm}, **where)
    who = account.name if account else "nobody"
    return AccessDenied(f"{who} is not permitted to {perm} here")


def require(account: Account | None, perm: Perm, *, tx: Transaction | None = None, **where: Any) -> Account:
    """Raise AccessDenied (logged when ``tx`` is given) unless the role carries ``perm``."""
    if account is None or not can(account, perm):
        raise deny(tx, account, perm.value, **where)
    return account


def refuse(home: Home, account: Account | None, perm: Perm, via: str, **where: Any) -> AccessDenied:
    """Record one ``access.denied`` event (with the true channel) in its own transaction; return the error."""
    with home.transaction(account.name if account else "nobody", via) as tx:
        return deny(tx, account, perm.value, **where)


def check_case(home: Home, account: Account | None, perm: Perm, case_id: int, via: str) -> Account:
    """Role permission and case membership, read without a write lock; a refusal is logged."""
    if account is not None and can(account, perm):
        with home.reading() as conn:
            if is_member(conn, account, case_id):
                return account
    raise refuse(home, account, perm, via, case_id=case_id)


def is_member(conn: Connection, account: Account, case_id: int) -> bool:
    """Case membership (admins count as members of every case)."""
    if account.role is Role.ADMIN:
        return True
    row = conn.execute(
        select(case_members.c.user_id).where(
            case_members.c.case_id == case_id, case_members.c.user_id == account.id
        )
    ).first()
    return row is not None


def case_ids_for(conn: Connection, account: Account) -> list[int]:
    """The cases this account may open."""
    if not account.active:
        return []
    if account.role is Role.ADMIN:
        return [int(r[0]) for r in conn.execute(select(cases.c.id))]
    q = select(case_members.c.case_id).where(case_members.c.user_id == account.id)
    return [int(r[0]) for r in conn.execute(q)]


def require_case(
    conn: Connection, account: Account | None, perm: Perm, case_id: int, tx: Transaction | None = None
) -> Account:
    """Role permission and case membership together."""
    acct = require(account, perm, tx=tx, case_id=case_id)
    if not is_member(conn, acct, case_id):
        raise deny(tx, acct, perm.value, case_id=case_id)
    return acct


def add_member(tx: Transaction, by: Account | None, case_id: int, name: str) -> None:
    """Make a user a member of a case (admins)."""
    require(by, Perm.MANAGE_CASES, tx=tx, case_id=case_id)
    target = account_by_name(tx.conn, name)
    if target is None:
        raise BadAccount(f"no user named {name!r}")
    if is_member(tx.conn, target, case_id) and target.role is not Role.ADMIN:
        return
    tx.conn.execute(case_members.insert().values(case_id=case_id, user_id=target.id, added_at=utcnow()))
    tx.event("case.member_added", case_id=case_id, details={"user_id": target.id})


def list_members(conn: Connection, case_id: int) -> list[Account]:
    """Members of a case."""
    q = (
        select(users)
        .join(case_members, case_members.c.user_id == users.c.id)
        .where(case_members.c.case_id == case_id)
        .order_by(users.c.name)
    )
    return [account_from_row(r) for r in conn.execute(q).mappings()]


def idle_minutes(conn: Connection) -> int:
    """The idle timeout in minutes (settings key ``session_idle_minutes``, default 15)."""
    row = conn.execute(select(settings.c.value).where(settings.c.key == "session_idle_minutes")).first()
    try:
        return max(1, int(row[0])) if row is not None else DEFAULT_IDLE_MINUTES
    except (TypeError, ValueError):
        return DEFAULT_IDLE_MINUTES


@dataclass
class Session:
    """An app session: who, and when they last acted."""

    account_id: int
    last_active: datetime

    def touch(self, now: datetime | None, idle: int) -> None:
        """Raise SessionExpired when idle too long; otherwise note the activity."""
        moment = now or utcnow()
        if moment - self.last_active > timedelta(minutes=idle):
            raise SessionExpired("your session ended after inactivity: please log in again")
        self.last_active = moment


def current_account(home: Home, session: Session, now: datetime | None = None) -> Account:
    """Re-read the account each request, so a role change or deactivation takes effect at once."""
    with home.reading() as conn:
        session.touch(now, idle_minutes(conn))
        row = conn.execute(select(users).where(users.c.id == session.account_id)).mappings().first()
    if row is None or not row["active"]:
        raise SessionExpired("this account is no longer active")
    return account_from_row(row)
