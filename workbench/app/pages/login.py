"""Login page (local accounts, argon2-checked), and the first run: the first admin, made from this machine."""

from __future__ import annotations

import streamlit as st

from archive.errors import WorkbenchError
from archive.home import Home
from workbench.app.pages import common
from workbench.services import sessions
from workbench.services.auth import AccessDenied, AuthError

__all__ = ["render"]


def _first_admin(home: Home) -> None:
    """No account exists: a browser on this machine makes the first admin and is logged in as it."""
    if not common.from_loopback():
        st.warning("No account exists yet. Create the first admin on the server itself:")
        st.code("wb init --admin NAME --password-stdin    # or open the app at http://127.0.0.1:8501 there")
        return
    st.info("No account exists yet: create the first administrator (only possible from this machine).")
    with st.form("first_admin"):
        name = st.text_input("Administrator's user name", key="first_name")
        password = st.text_input("Password (10+ characters)", type="password", key="first_password")
        again = st.text_input("Password again", type="password", key="first_again")
        submitted = st.form_submit_button("Create the administrator and log in")
    if not submitted:
        return
    if password != again:
        st.error("The two passwords differ.")
        return
    try:
        sessions.create_first_admin(home, name.strip(), password, "app")
        token, _ = sessions.open_session(home, name.strip(), password, "app")
    except WorkbenchError as exc:
        st.error("Not created")
        st.text(str(exc))
        return
    common.start_session(token)


def render(home: Home) -> None:
    """The login form (or, while no account exists, the first-run form)."""
    st.title("Verification workbench")
    if not sessions.has_accounts(home):
        _first_admin(home)
        return
    if reason := st.session_state.pop("logout_reason", None):
        st.info("You were logged out.")
        st.text(reason)
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    try:
        token, _ = sessions.open_session(home, name.strip(), password, "app")
    except (AccessDenied, AuthError):
        st.error("Unknown user or wrong password.")
        return
    common.start_session(token)
