"""What every page shares: the open home, the logged-in account (from the session cookie), navigation,
safe text output.

Untrusted text (titles, captions, EXIF, notes, error messages that quote input) goes only through
``st.text``, ``st.code`` or ``st.dataframe``: markdown would fetch attacker-chosen image URLs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit import runtime
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.scriptrunner import get_script_run_ctx

from archive.cases import list_cases
from archive.errors import InvalidRequest, Refused, WorkbenchError
from archive.home import Home
from archive.model import Case
from workbench import TOOL_VERSION
from workbench.app import webauth
from workbench.services import auth, config, jobs, login_codes, sessions, unlock
from workbench.services.auth import Account, SessionExpired

__all__ = [
    "Ctx",
    "back",
    "current_account",
    "end_session",
    "from_loopback",
    "get_home",
    "guard",
    "navigate",
    "open_item",
    "origin",
    "session_live",
    "session_token",
    "start_session",
    "table",
    "visible_cases",
]

TIME = "%Y-%m-%d %H:%M:%S UTC"
_APPTEST_LOGIN = "_apptest_session_token"
_ACCOUNT_KEY = "_account_id"


@dataclass
class Ctx:
    home: Home
    account: Account
    case: Case | None


@st.cache_resource
def _home(root: str, key: str, db_url: str | None, blob_url: str) -> Home:
    from pathlib import Path

    # An encrypted home opens with the key that `wb serve` or WB_DATA_KEY_FILE hands the app.
    data_key = unlock.data_key(Path(root), use_session=False)
    return Home.open(
        Path(root), Path(key), TOOL_VERSION, db_url, config.blob_store(Path(root)), data_key=data_key
    )


def get_home() -> Home:
    """The archive home named by WB_HOME (opened once per process and home, and blob store)."""
    blob_url = os.environ.get("WB_BLOB_URL", "")
    return _home(str(config.home_path(None)), str(config.key_path()), config.db_url(), blob_url)


def _served() -> bool:
    """False only under AppTest, whose runtime is a ``MagicMock(spec=Runtime)`` without clients (or
    with no runtime at all); anything else is a server, where only the cookie counts (fails closed)."""
    return runtime.exists() and not isinstance(runtime.get_instance(), mock.NonCallableMock)


def session_token() -> str | None:
    """The login token of this browser: the HttpOnly cookie sent with the page's connection.

    Under a real server only the cookie counts, so nothing kept in ``st.session_state`` (which a
    browser presenting someone else's Streamlit session id would inherit) ever grants access.
    AppTest cannot send cookies; there the token the login form made is kept in the state.
    """
    if not _served():
        found = st.session_state.get(_APPTEST_LOGIN)
        return found if isinstance(found, str) else None
    value = st.context.cookies.get(webauth.COOKIE)
    return value if isinstance(value, str) and value else None


def _reset_state() -> None:
    """Forget everything this browser session showed (revealed media included)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


ENDED = {
    "idle": "Your session ended after inactivity: please log in again.",
    "logout": "You logged out (here or in another tab).",
    "revoked": "An administrator ended your sessions: please log in again.",
    "deactivated": "This account is no longer active.",
    "password_changed": "The password of this account was changed: log in with the new one.",
    "expired": "Your session has expired: please log in again.",
}


def _why(message: str) -> str | None:
    """What to tell someone whose session is over (nothing when there never was one)."""
    if message == "no such session":
        return None
    found = re.fullmatch(r"this session was ended \((\w+)\)", message)
    return ENDED.get(found.group(1), message) if found else message


def current_account(home: Home) -> Account | None:
    """The logged-in account, re-read from the database on every run (each run counts as activity);
    None when there is no live session, and then nothing of an earlier login stays in the state."""
    token = session_token()
    account: Account | None = None
    reason: str | None = None
    if token is not None:
        try:
            account = sessions.resume(home, token, "app")
        except SessionExpired as exc:
            reason = _why(str(exc))
    known = st.session_state.get(_ACCOUNT_KEY)
    if known is not None and (account is None or account.id != known):
        _reset_state()
    if account is None:
        if reason:
            st.session_state["logout_reason"] = reason
        return None
    st.session_state[_ACCOUNT_KEY] = account.id
    return account


def session_live(home: Home) -> bool:
    """Whether this browser's session is still live, without counting the check as activity."""
    token = session_token()
    if token is None:
        return False
    try:
        sessions.resume(home, token, "app", touch=False)
    except SessionExpired:
        return False
    return True


def navigate(url: str) -> None:
    """Send the browser to a URL of this server (a full page load, so that a cookie set there counts).

    Streamlit has no public call for this; ``st.login``/``st.logout`` send the same ``auth_redirect``
    message, which the page follows with ``window.location.href``.
    """
    ctx = get_script_run_ctx()
    if ctx is None or not _served():
        return
    msg = ForwardMsg()
    msg.auth_redirect.url = url
    ctx.enqueue(msg)


def start_session(token: str) -> None:
    """Hand a fresh session to the browser: a single-use code that ``/wb/session`` swaps for the cookie."""
    if not _served():
        st.session_state[_APPTEST_LOGIN] = token
        st.rerun()
    query = urlencode({k: v for k, v in st.query_params.to_dict().items() if k == "item"})
    navigate("/wb/session?" + urlencode({"code": login_codes.handoff(get_home(), token, query)}))
    st.text("Signing in ...")
    st.stop()


def end_session(home: Home) -> None:
    """Log out: end the server session at once, forget the state, and have ``/wb/logout`` clear the cookie."""
    token = session_token()
    if token is not None:
        sessions.end_session(home, token, "logout")
    _reset_state()
    navigate("/wb/logout")


def from_loopback() -> bool:
    """Whether this browser connects from this machine (127.0.0.1 or ::1, not through a proxy)."""
    if not _served():
        return False
    headers = dict(st.context.headers)
    ip = st.context.ip_address  # None for a loopback peer (Streamlit hides those)
    return webauth.from_loopback("127.0.0.1" if ip is None else str(ip), headers)


def visible_cases(home: Home, account: Account) -> list[Case]:
    with home.reading() as conn:
        ids = set(auth.case_ids_for(conn, account))
        return [c for c in list_cases(conn) if c.id in ids]


def open_item(item_id: str) -> None:
    """Go to an item page; any revealed media is blurred again."""
    st.session_state["item_id"] = item_id
    st.session_state.pop("revealed", None)
    st.session_state.pop("replay", None)


def back() -> None:
    """Leave the item page; re-blur."""
    st.session_state.pop("item_id", None)
    st.session_state.pop("revealed", None)
    st.session_state.pop("replay", None)


def origin() -> str | None:
    """This server's origin as the browser reached it (for links to its file routes); None under AppTest."""
    try:
        url = str(st.context.url or "")
    except Exception:  # AppTest and old runtimes have no request context
        return None
    parts = url.split("/")
    return "/".join(parts[:3]) if url.startswith(("http://", "https://")) and len(parts) >= 3 else None


def table(rows: list[dict[str, Any]], key: str | None = None) -> None:
    """Rows as a dataframe (text cells, never markdown)."""
    if not rows:
        st.text("(none)")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key)


def headline(exc: WorkbenchError) -> str:
    """What an error means to the person at the page: refused, not saved (bad input), or failed."""
    if isinstance(exc, Refused):
        return "Refused"
    return "Not saved" if isinstance(exc, (InvalidRequest, auth.AuthError)) else "Failed"


@contextmanager
def guard() -> Iterator[None]:
    """The app's one mapping of the error tree (archive/errors.py): the headline, then the message as
    text; anything else is a bug and stays a server-side error."""
    try:
        yield
    except jobs.QueueUnavailable as exc:
        st.error("Not queued")
        st.text(str(exc))
    except WorkbenchError as exc:
        st.error(headline(exc))
        st.text(str(exc))
