"""Server-side sessions: the one way an account comes to act, from the CLI and the app alike.

A session is a random token held by the client (the CLI's session file, the app's HttpOnly
cookie); the database keeps only its SHA-256, who it belongs to, when it expires and whether it
ended. Every request resolves the token again (``resume``), so logout, revocation, deactivation
and password resets take effect at the next command or click, in every channel.

- CLI sessions expire after ``session_hours`` (default 8) from login.
- App sessions also end after ``session_idle_minutes`` without activity (default 15).

The first account (an admin) can be made without a session, and only while no account exists.

In an encrypted home (``archive.keys``) accounts and sessions also carry the data key: adding an
account adds its key slot, deactivating removes it, a password reset seals the key again under the
new password, and a CLI session holds the key sealed under its token until it ends.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from archive.db import sessions, settings, users, utcnow
from archive.home import Home, Transaction
from archive.keys import RECOVERY_SLOT, WrongKey
from workbench.services import auth
from workbench.services.auth import Account, BadAccount, Perm, SessionExpired

__all__ = [
    "CHANNELS",
    "DEFAULT_SESSION_HOURS",
    "SessionInfo",
    "create_first_admin",
    "deactivate_user",
    "end_session",
    "has_accounts",
    "list_accounts",
    "list_sessions",
    "open_session",
    "reset_password",
    "resume",
    "add_account",
    "recover_password",
    "token_digest",
    "revoke_sessions",
    "session_hours",
]

DEFAULT_SESSION_HOURS = 8
CHANNELS = ("cli", "app")
SessionInfo = dict[str, Any]


def token_digest(token: str) -> str:
    """The SHA-256 of a session token: the database and the key files know the session by it."""
    return _digest(token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def session_hours(conn: Connection) -> int:
    """How long a session lasts from login (settings key ``session_hours``, default 8)."""
    row = conn.execute(select(settings.c.value).where(settings.c.key == "session_hours")).first()
    try:
        return max(1, int(row[0])) if row is not None else DEFAULT_SESSION_HOURS
    except (TypeError, ValueError):
        return DEFAULT_SESSION_HOURS


def has_accounts(home: Home) -> bool:
    """Whether any account exists (until one does, the first admin may be made without a session)."""
    with home.reading() as conn:
        return conn.execute(select(users.c.id).limit(1)).first() is not None


def create_first_admin(home: Home, name: str, password: str, via: str) -> Account:
    """The first admin of a home; refused once any account exists."""
    with home.transaction(name, via) as tx:
        if tx.conn.execute(select(users.c.id).limit(1)).first() is not None:
            raise auth.BadAccount("the first account exists already: an admin adds the others")
        account = auth.add_user(tx, None, name, "admin", password)
        _add_slot(home, name, password)
        return account


def list_accounts(home: Home, by: Account | None, via: str = "cli") -> list[Account]:
    """The accounts ``by`` may see, by name (``wb user list``, the app's member pickers).

    Who manages users sees every account; anyone else sees itself and the members of its own cases
    (the people whose reviews, assignments and notes it meets), not the whole staff list.
    """
    if by is None or not by.active:
        raise auth.refuse(home, by, Perm.READ, via)
    with home.reading() as conn:
        everyone = auth.list_users(conn)
        if auth.can(by, Perm.MANAGE_USERS):
            return everyone
        mates = {by.id} | {m.id for c in auth.case_ids_for(conn, by) for m in auth.list_members(conn, c)}
    return [a for a in everyone if a.id in mates]


def add_account(home: Home, by: Account, name: str, role: str, password: str, via: str = "cli") -> Account:
    """Add an account (admins), and in an encrypted home its key slot."""
    with home.transaction(by.name, via) as tx:
        account = auth.add_user(tx, by, name, role, password)
        _add_slot(home, name, password)
    return account


def _add_slot(home: Home, name: str, password: str) -> None:
    if home.keyring is not None and home.data_key is not None:
        home.keyring.add_slot(home.data_key, home.keyring.slot_id(name), password)


def open_session(
    home: Home, name: str, password: str, channel: str, now: datetime | None = None
) -> tuple[str, Account]:
    """Check the password and start a session; returns the token (shown to the client only)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    with home.reading() as conn:
        account = auth.authenticate(conn, name, password)
    token = secrets.token_urlsafe(32)
    moment = now or utcnow()
    with home.transaction(account.name, channel) as tx:
        hours = session_hours(tx.conn)
        tx.conn.execute(
            sessions.insert().values(
                token_sha256=_digest(token),
                user_id=account.id,
                channel=channel,
                created_at=moment,
                last_active=moment,
                expires_at=moment + timedelta(hours=hours),
            )
        )
        tx.event("session.started", details={"user_id": account.id})
        if home.keyring is not None and home.data_key is not None and channel == "cli":
            expires = moment + timedelta(hours=hours)
            home.keyring.open_session(home.data_key, token, _digest(token), expires)
    return token, account


def resume(
    home: Home, token: str, channel: str, now: datetime | None = None, *, touch: bool = True
) -> Account:
    """The account behind a live session token; raises SessionExpired otherwise.

    App sessions are also ended by inactivity, and each call counts as activity unless ``touch`` is
    False (the app's idle watch and its file routes check without keeping the session alive).
    """
    moment = now or utcnow()
    digest = _digest(token)
    with home.reading() as conn:
        row = conn.execute(select(sessions).where(sessions.c.token_sha256 == digest)).mappings().first()
        idle = auth.idle_minutes(conn)
    if row is None or row["channel"] != channel:
        raise SessionExpired("no such session")
    if row["ended_at"] is not None:
        raise SessionExpired(f"this session was ended ({row['end_reason']})")
    if moment >= row["expires_at"]:
        _end(home, digest, "expired")
        raise SessionExpired("this session has expired")
    if channel == "app" and moment - row["last_active"] > timedelta(minutes=idle):
        _end(home, digest, "idle")
        raise SessionExpired("your session ended after inactivity: please log in again")
    with home.reading() as conn:
        user = conn.execute(select(users).where(users.c.id == row["user_id"])).mappings().first()
    if user is None or not user["active"]:
        _end(home, digest, "deactivated")
        raise SessionExpired("this account is no longer active")
    if channel == "app" and touch:
        with home.db.begin() as conn:
            conn.execute(
                sessions.update().where(sessions.c.token_sha256 == digest).values(last_active=moment)
            )
    return auth.account_from_row(user)


def _end(home: Home, digest: str, reason: str) -> None:
    with home.db.begin() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.token_sha256 == digest, sessions.c.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason)
        )
    if home.keyring is not None:
        home.keyring.end_session(digest)


def end_session(home: Home, token: str, reason: str = "logout") -> Account | None:
    """End one session (logout); returns whose it was, or None when it was not live."""
    digest = _digest(token)
    with home.reading() as conn:
        row = conn.execute(select(sessions).where(sessions.c.token_sha256 == digest)).mappings().first()
        user = None
        if row is not None:
            user = conn.execute(select(users).where(users.c.id == row["user_id"])).mappings().first()
    if row is None or row["ended_at"] is not None or user is None:
        return None
    account = auth.account_from_row(user)
    with home.transaction(account.name, str(row["channel"])) as tx:
        _end_where(home, tx, sessions.c.token_sha256 == digest, reason)
        tx.event("session.ended", details={"user_id": account.id, "reason": reason})
    return account


def _end_where(home: Home, tx: Transaction, condition: Any, reason: str) -> int:
    if home.keyring is not None:
        # The key a session holds goes with it (before the commit: a session left without its key
        # only asks its user to log in again).
        live = tx.conn.execute(
            select(sessions.c.token_sha256).where(condition, sessions.c.ended_at.is_(None))
        )
        for row in live:
            home.keyring.end_session(str(row.token_sha256))
    result = tx.conn.execute(
        sessions.update()
        .where(condition, sessions.c.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    return int(result.rowcount or 0)


def _target(tx: Transaction, by: Account, name: str) -> Account:
    auth.require(by, Perm.MANAGE_USERS, tx=tx)
    target = auth.account_by_name(tx.conn, name)
    if target is None:
        raise BadAccount(f"no user named {name!r}")
    return target


def list_sessions(home: Home, by: Account, name: str) -> list[SessionInfo]:
    """The live sessions of an account (admins, or the account itself); never the tokens."""
    with home.transaction(by.name, "cli") as tx:
        target = auth.account_by_name(tx.conn, name)
        if target is None or target.id != by.id:
            target = _target(tx, by, name)
        rows = tx.conn.execute(
            select(sessions.c.channel, sessions.c.created_at, sessions.c.last_active, sessions.c.expires_at)
            .where(sessions.c.user_id == target.id, sessions.c.ended_at.is_(None))
            .order_by(sessions.c.created_at)
        ).mappings()
        now = utcnow()
        return [dict(r) for r in rows if r["expires_at"] > now]


def revoke_sessions(home: Home, by: Account, name: str, via: str = "cli") -> int:
    """End every session of an account at once (admins)."""
    with home.transaction(by.name, via) as tx:
        target = _target(tx, by, name)
        ended = _end_where(home, tx, sessions.c.user_id == target.id, "revoked")
        tx.event("session.revoked", details={"user_id": target.id, "sessions": ended})
    return ended


def deactivate_user(home: Home, by: Account, name: str, via: str = "cli") -> Account:
    """Deactivate an account and end its sessions (admins; not oneself, so a home keeps an admin)."""
    with home.transaction(by.name, via) as tx:
        target = _target(tx, by, name)
        if target.id == by.id:
            raise BadAccount("you cannot deactivate your own account")
        tx.conn.execute(users.update().where(users.c.id == target.id).values(active=False))
        _end_where(home, tx, sessions.c.user_id == target.id, "deactivated")
        if home.keyring is not None:
            home.keyring.remove_slot(home.keyring.slot_id(target.name))
        tx.event("user.deactivated", details={"user_id": target.id})
    return Account(target.id, target.name, target.role, False, target.settings)


def reset_password(
    home: Home, by: Account, name: str, password: str, via: str = "cli", *, current: str | None = None
) -> None:
    """Set a new password (admins for anyone, anyone for themselves); ends the account's sessions.

    One's own password changes only with the current one (``current``), admins' too: a session
    alone (a terminal left open, a copied session file) must not turn into a login of its own that
    outlives it and locks the owner out.
    """
    if len(password) < auth.MIN_PASSWORD:
        raise BadAccount(f"the password must have at least {auth.MIN_PASSWORD} characters")
    with home.transaction(by.name, via) as tx:
        target = auth.account_by_name(tx.conn, name)
        if target is not None and target.id == by.id:
            try:
                auth.authenticate(tx.conn, by.name, current or "")
            except BadAccount:
                raise BadAccount("your current password is wrong: nothing was changed") from None
        else:
            target = _target(tx, by, name)
        tx.conn.execute(
            users.update().where(users.c.id == target.id).values(password_hash=auth.HASHER.hash(password))
        )
        _end_where(home, tx, sessions.c.user_id == target.id, "password_changed")
        _add_slot(home, target.name, password)  # replaces the slot sealed under the old password
        tx.event("user.password_changed", details={"user_id": target.id})


def recover_password(home: Home, name: str, recovery_key: str, password: str, via: str = "cli") -> None:
    """Set a lost password with the home's recovery key (``wb user recover``); the key is checked here,
    whoever calls, since a process that holds the home open could otherwise set anyone's password."""
    if len(password) < auth.MIN_PASSWORD:
        raise BadAccount(f"the password must have at least {auth.MIN_PASSWORD} characters")
    if home.keyring is None:
        raise BadAccount("only an encrypted home has a recovery key: an admin sets the password")
    try:
        home.keyring.unlock(RECOVERY_SLOT, recovery_key.strip().upper())
    except WrongKey:
        raise BadAccount("wrong recovery key; nothing was changed") from None
    with home.transaction(name, via) as tx:
        target = auth.account_by_name(tx.conn, name)
        if target is None or not target.active:
            raise BadAccount(f"no active user named {name!r}")
        tx.conn.execute(
            users.update().where(users.c.id == target.id).values(password_hash=auth.HASHER.hash(password))
        )
        _end_where(home, tx, sessions.c.user_id == target.id, "password_changed")
        tx.event("user.password_changed", details={"user_id": target.id, "with": "recovery_key"})
        _add_slot(home, name, password)
