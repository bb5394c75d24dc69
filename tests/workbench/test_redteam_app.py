"""Red-team tests of the app's sessions with AppTest (the real app script against a real home).

What needs a browser (cookies, routes, Host headers, the idle re-blur) is in
``test_redteam_app_browser.py``. AppTest cannot send cookies: there the login form's session token
stays in the test's session state, and everything else (resume, idle, revocation) is the real path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from archive import db
from archive.custody import CustodyLog
from archive.db import sessions as sessions_table
from archive.db import utcnow
from archive.home import Home
from tests.workbench.app_fixtures import PASSWORD, World, make_world
from workbench.app import webauth
from workbench.services import auth, login_codes, sessions
from workbench.services.auth import AccessDenied, Session

APP = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    yield make_world(home, reviews=2, n_items=1)


def _texts(at: AppTest) -> str:
    return "\n".join(str(t.value) for t in at.text)


def _login(name: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "Log in").click().run()
    assert not at.exception, at.exception
    return at


def _signed_in(at: AppTest, name: str) -> bool:
    return any(str(t.value).startswith(f"Signed in: {name} ") for t in at.sidebar.text)


def _settings(at: AppTest) -> AppTest:
    at.sidebar.radio(key="nav").set_value("Settings").run()
    assert not at.exception, at.exception
    return at


def _submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def _live_sessions(home: Home, user_id: int) -> int:
    with home.reading() as conn:
        rows = conn.execute(
            select(sessions_table.c.token_sha256).where(
                sessions_table.c.user_id == user_id, sessions_table.c.ended_at.is_(None)
            )
        ).all()
    return len(rows)


def test_streamlit_state_of_an_old_login_grants_nothing(world: World) -> None:
    """What a browser presenting someone's Streamlit session id inherits is that session's state; the
    old app trusted a ``Session`` kept there. Now only a live server-side session counts."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["session"] = Session(world.analyst.id, utcnow())
    at.run()
    assert not at.exception, at.exception
    assert not _signed_in(at, "analyst")
    assert at.text_input(key="login_name") is not None


def test_logout_ends_the_server_session(world: World) -> None:
    at = _login("analyst")
    assert _signed_in(at, "analyst") and _live_sessions(world.home, world.analyst.id) == 1
    at.button(key="logout").click().run()
    assert not _signed_in(at, "analyst")
    assert _live_sessions(world.home, world.analyst.id) == 0
    at.run()
    assert not _signed_in(at, "analyst")


def test_admin_deactivates_an_account_in_settings_and_its_open_session_ends(world: World) -> None:
    analyst = _login("analyst")
    admin = _settings(_login("admin"))
    admin.selectbox(key="d_user").set_value("analyst")
    _submit(admin, "Deactivate")
    assert [s.value for s in admin.success] == ["analyst is deactivated"]
    analyst.run()
    assert not _signed_in(analyst, "analyst")
    assert "This account is no longer active." in _texts(analyst)
    again = _login("analyst")
    assert [e.value for e in again.error] == ["Unknown user or wrong password."]
    with world.home.reading() as conn:
        events = [(e.action, e.via) for e in CustodyLog.events(conn) if e.actor == "admin"]
    assert ("user.deactivated", "app") in events


def test_admin_resets_a_password_in_settings_and_the_old_one_stops_working(world: World) -> None:
    reviewer = _login("reviewer")
    admin = _settings(_login("admin"))
    admin.selectbox(key="p_user").set_value("reviewer")
    admin.text_input(key="p_password").input(NEW_PASSWORD)
    _submit(admin, "Set password")
    reviewer.run()
    assert not _signed_in(reviewer, "reviewer")
    assert "The password of this account was changed: log in with the new one." in _texts(reviewer)
    assert [e.value for e in _login("reviewer").error] == ["Unknown user or wrong password."]
    assert _signed_in(_login("reviewer", NEW_PASSWORD), "reviewer")


def test_admin_ends_every_session_of_an_account_in_settings(world: World) -> None:
    first, second = _login("legal"), _login("legal")
    assert _live_sessions(world.home, world.legal.id) == 2
    admin = _settings(_login("admin"))
    admin.selectbox(key="s_user").set_value("legal")
    _submit(admin, "End sessions")
    assert [s.value for s in admin.success] == ["2 session(s) of legal ended"]
    for at in (first, second):
        at.run()
        assert not _signed_in(at, "legal")
    assert _live_sessions(world.home, world.legal.id) == 0


def test_anyone_changes_their_own_password_after_giving_the_current_one(world: World) -> None:
    at = _settings(_login("analyst"))
    at.text_input(key="o_current").input("not the password")
    at.text_input(key="o_new").input(NEW_PASSWORD)
    at.text_input(key="o_again").input(NEW_PASSWORD)
    _submit(at, "Change my password")
    assert "current password is wrong" in _texts(at) and _signed_in(at, "analyst")
    at.text_input(key="o_current").input(PASSWORD)
    at.text_input(key="o_new").input(NEW_PASSWORD)
    at.text_input(key="o_again").input(NEW_PASSWORD)
    _submit(at, "Change my password")
    assert not _signed_in(at, "analyst")
    assert _signed_in(_login("analyst", NEW_PASSWORD), "analyst")


def test_account_tools_are_for_admins_only(world: World) -> None:
    at = _settings(_login("analyst"))
    keys = {w.key for w in at.selectbox}
    assert not keys & {"d_user", "p_user", "s_user"}
    # Whatever a page offers, the service refuses a wrong role and logs it with the app's channel.
    with pytest.raises(AccessDenied):
        sessions.deactivate_user(world.home, world.analyst, "reviewer", via="app")
    with world.home.reading() as conn:
        denied = [(e.action, e.via) for e in CustodyLog.events(conn) if e.actor == "analyst"]
        target = auth.account_by_name(conn, "reviewer")
    assert denied[-1] == ("access.denied", "app")
    assert target is not None and target.active


def test_idle_session_shows_the_login_again(world: World) -> None:
    at = _login("reviewer2")
    with world.home.db.begin() as conn:
        live = sessions_table.c.user_id == world.reviewer2.id
        last = conn.execute(select(sessions_table.c.last_active).where(live)).scalar_one()
        idle = timedelta(minutes=auth.DEFAULT_IDLE_MINUTES + 1)
        conn.execute(sessions_table.update().where(live).values(last_active=last - idle))
    at.run()
    assert not _signed_in(at, "reviewer2")
    assert "your session ended after inactivity: please log in again" in _texts(at)


def test_first_run_form_is_not_offered_without_a_loopback_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AppTest has no browser connection at all, so it is not "this machine": the first run is refused."""
    monkeypatch.setenv("WB_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    Home.init(tmp_path / "fresh", tmp_path / "keys" / "signing.key", "test").close()
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "No account exists yet. Create the first admin on the server itself:" in [
        w.value for w in at.warning
    ]
    assert not {w.key for w in at.text_input} & {"first_name", "login_name"}


def test_login_codes_are_single_use_and_short_lived(tmp_path: Path) -> None:
    home = Home.init(tmp_path / "h", tmp_path / "keys" / "signing.key", "test")
    try:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        code = login_codes.handoff(home, "token-1", "item=abc", now=start)
        assert login_codes.redeem(home, code, now=start + timedelta(seconds=30)) == ("token-1", "item=abc")
        assert login_codes.redeem(home, code, now=start + timedelta(seconds=31)) is None  # used
        late = login_codes.handoff(home, "token-2", now=start)
        after = start + timedelta(seconds=login_codes.CODE_TTL_S + 1)
        assert login_codes.redeem(home, late, now=after) is None
        assert login_codes.redeem(home, "guessed", now=start) is None
        with home.reading() as conn:  # neither the code nor the token is readable in the database
            stored = repr(conn.execute(select(db.login_codes)).all())
        assert "token-2" not in stored and late not in stored
    finally:
        home.close()


@pytest.mark.parametrize(
    ("host", "server", "allowed"),
    [
        ("127.0.0.1:8501", ("127.0.0.1", 8501), True),
        ("localhost:8501", ("127.0.0.1", 8501), True),
        ("[::1]:8501", ("127.0.0.1", 8501), True),
        ("LOCALHOST:8501", ("127.0.0.1", 8501), True),
        ("evil.example:8501", ("127.0.0.1", 8501), False),
        ("localhost.evil.example:8501", ("127.0.0.1", 8501), False),
        ("127.0.0.1:8502", ("127.0.0.1", 8501), False),
        ("127.0.0.1", ("127.0.0.1", 8501), False),
        ("", ("127.0.0.1", 8501), False),
        ("10.0.0.5:8501", ("10.0.0.5", 8501), True),  # `wb serve --address 10.0.0.5`
        ("10.0.0.5:8501", ("127.0.0.1", 8501), False),
        ("0.0.0.0:8501", ("0.0.0.0", 8501), False),
        ("127.0.0.1:8501", None, False),
        ("127.0.0.2:8501", ("127.0.0.2", 8501), True),  # `wb serve --address 127.0.0.2`
    ],
)
def test_host_header_rule(host: str, server: tuple[str, int] | None, allowed: bool) -> None:
    assert webauth.allowed_host(host, server) is allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("wb.example.org", True), ("WB.example.org", True), ("wb.example.org:8443", True),
     ("evil.example", False), ("wb.example.org.evil.example", False), ("127.0.0.1:8501", True)],
)  # fmt: skip
def test_host_rule_behind_a_proxy(host: str, allowed: bool) -> None:
    """`wb serve --public-host` admits the names the TLS proxy passes on, and nothing more."""
    public = "wb.example.org, wb.example.org:8443"
    assert webauth.allowed_host(host, ("10.0.0.5", 8501), public) is allowed


@pytest.mark.parametrize(
    ("ip", "headers", "local"),
    [
        ("127.0.0.1", {"Host": "127.0.0.1:8501"}, True),
        ("::1", {"Host": "localhost:8501"}, True),
        ("127.0.0.2", {"Host": "127.0.0.1:8501"}, False),
        ("192.0.2.4", {"Host": "127.0.0.1:8501"}, False),
        ("127.0.0.1", {"Host": "127.0.0.1:8501", "X-Forwarded-For": "203.0.113.7"}, False),
        ("127.0.0.1", {"Host": "127.0.0.1:8501", "Forwarded": "for=203.0.113.7"}, False),
        ("127.0.0.1", {"Host": "workbench.example.org"}, False),
        ("127.0.0.1", {}, False),
        (None, {"Host": "127.0.0.1:8501"}, False),
    ],
)
def test_first_run_counts_only_requests_made_on_this_machine(
    ip: str | None, headers: dict[str, str], local: bool
) -> None:
    assert webauth.from_loopback(ip, headers) is local
