"""Accounts, roles and the permission check (SEC-04)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from archive.custody import CustodyLog
from archive.db import settings, users, utcnow
from archive.home import Home
from archive.verify import verify
from tests.conftest import BOTH_ENGINES
from tests.workbench.app_fixtures import PASSWORD, make_world
from workbench.services import auth
from workbench.services.auth import AccessDenied, BadAccount, Perm, Session, SessionExpired

pytestmark = BOTH_ENGINES


def test_password_is_stored_as_argon2_hash_and_checked(home: Home) -> None:
    w = make_world(home, n_items=0)
    with home.reading() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.name == "analyst")).scalar_one()
        assert stored.startswith("$argon2") and PASSWORD not in stored
        assert auth.authenticate(conn, "analyst", PASSWORD).id == w.analyst.id
        with pytest.raises(BadAccount, match="unknown user or wrong password"):
            auth.authenticate(conn, "analyst", PASSWORD + "x")
        with pytest.raises(BadAccount, match="unknown user or wrong password"):
            auth.authenticate(conn, "nobody", PASSWORD)


def test_only_admins_add_users_after_the_first(home: Home) -> None:
    w = make_world(home, n_items=0)
    with pytest.raises(AccessDenied), home.transaction("analyst") as tx:
        auth.add_user(tx, w.analyst, "mallory", "admin", PASSWORD)
    with home.reading() as conn:
        assert auth.account_by_name(conn, "mallory") is None


def test_role_change_is_a_custody_event(home: Home) -> None:
    w = make_world(home, n_items=0)
    with home.transaction("admin") as tx:
        changed = auth.set_role(tx, w.admin, "reviewer", "legal")
    assert changed.role.value == "legal"
    with home.reading() as conn:
        events = [e for e in CustodyLog.events(conn) if e.action == "user.role_changed"]
    assert [(e.actor, dict(e.details)) for e in events] == [
        ("admin", {"user_id": w.reviewer.id, "role_before": "reviewer", "role_after": "legal"})
    ]


def test_role_permissions_follow_least_privilege() -> None:
    legal = auth.Account(1, "l", auth.Role.LEGAL)
    reviewer = auth.Account(2, "r", auth.Role.REVIEWER)
    assert not auth.can(legal, Perm.JUDGE) and not auth.can(legal, Perm.ANNOTATE)
    assert auth.can(legal, Perm.EXPORT) and auth.can(legal, Perm.ACCESS_REPORT)
    assert not auth.can(reviewer, Perm.EXPORT) and auth.can(reviewer, Perm.JUDGE)


def test_idle_session_ends_after_configured_timeout(home: Home) -> None:
    w = make_world(home, n_items=0)
    with home.transaction("admin") as tx:
        tx.conn.execute(settings.insert().values(key="session_idle_minutes", value=5))
    start = utcnow()
    session = Session(w.analyst.id, start)
    assert auth.current_account(home, session, start + timedelta(minutes=4)).name == "analyst"
    with pytest.raises(SessionExpired):
        auth.current_account(home, session, start + timedelta(minutes=10))


def test_non_member_is_refused_a_case(home: Home) -> None:
    w = make_world(home, n_items=0)
    with home.reading() as conn:
        assert auth.case_ids_for(conn, w.analyst) == [w.case.id]
        assert auth.case_ids_for(conn, w.outsider) == []
        with pytest.raises(AccessDenied):
            auth.require_case(conn, w.outsider, Perm.READ, w.case.id)


def test_a_refusal_that_ends_a_transaction_is_still_in_the_custody_log(home: Home) -> None:
    w = make_world(home, reviews=1, n_items=0)
    with pytest.raises(AccessDenied), home.transaction("analyst", "app") as tx:
        tx.conn.execute(settings.insert().values(key="half-done", value={}))
        auth.require(w.analyst, Perm.MANAGE_USERS, tx=tx, case_id=w.case.id)
    with home.reading() as conn:
        denied = [e for e in CustodyLog.events(conn) if e.action == "access.denied"]
        assert conn.execute(select(settings.c.key).where(settings.c.key == "half-done")).first() is None
    assert [(e.actor, e.case_id, e.details["permission"]) for e in denied] == [
        ("analyst", w.case.id, Perm.MANAGE_USERS.value)
    ]
    assert verify(home).intact
