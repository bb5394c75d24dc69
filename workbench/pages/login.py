"""Login page: local accounts, argon2-checked."""

from __future__ import annotations

import streamlit as st

from archive.db import utcnow
from archive.home import Home
from workbench import auth
from workbench.auth import BadAccount, Session

__all__ = ["render"]


def render(home: Home) -> None:
    """The login form."""
    st.title("Verification workbench")
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
        with home.reading() as conn:
            account = auth.authenticate(conn, name.strip(), password)
    except BadAccount:
        st.error("Unknown user or wrong password.")
        return
    with home.transaction(account.name, "app") as tx:
        tx.event("session.started", details={"user_id": account.id})
    st.session_state["session"] = Session(account.id, utcnow())
    st.rerun()
