"""What every page shares: the open home, the logged-in account, navigation, safe text output.

Untrusted text (titles, captions, EXIF, notes, error messages that quote input) goes only through
``st.text``, ``st.code`` or ``st.dataframe``: markdown would fetch attacker-chosen image URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from archive.cases import list_cases
from archive.home import Home
from archive.model import Case
from workbench import auth, config
from workbench.auth import AccessDenied, Account, SessionExpired
from workbench.clitools import TOOL_VERSION

__all__ = ["Ctx", "back", "current_account", "get_home", "guard", "open_item", "table", "visible_cases"]

TIME = "%Y-%m-%d %H:%M:%S UTC"


@dataclass
class Ctx:
    home: Home
    account: Account
    case: Case | None


@st.cache_resource
def _home(root: str, key: str, db_url: str | None) -> Home:
    from pathlib import Path

    return Home.open(Path(root), Path(key), TOOL_VERSION, db_url)


def get_home() -> Home:
    """The archive home named by WB_HOME (opened once per process and home)."""
    return _home(str(config.home_path(None)), str(config.key_path()), config.db_url())


def current_account(home: Home) -> Account | None:
    """The logged-in account, re-read from the database; None (and logged out) after the idle timeout."""
    session = st.session_state.get("session")
    if session is None:
        return None
    try:
        return auth.current_account(home, session)
    except SessionExpired as exc:
        for key in list(st.session_state.keys()):
            del st.session_state[key]
        st.session_state["logout_reason"] = str(exc)
        return None


def visible_cases(home: Home, account: Account) -> list[Case]:
    with home.reading() as conn:
        ids = set(auth.case_ids_for(conn, account))
        return [c for c in list_cases(conn) if c.id in ids]


def open_item(item_id: str) -> None:
    """Go to an item page; any revealed media is blurred again."""
    st.session_state["item_id"] = item_id
    st.session_state.pop("revealed", None)


def back() -> None:
    """Leave the item page; re-blur."""
    st.session_state.pop("item_id", None)
    st.session_state.pop("revealed", None)


def table(rows: list[dict[str, Any]], key: str | None = None) -> None:
    """Rows as a dataframe (text cells, never markdown)."""
    if not rows:
        st.text("(none)")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key)


@contextmanager
def guard() -> Iterator[None]:
    """Show refusals and bad input to the user as text; anything else stays a server-side error."""
    try:
        yield
    except AccessDenied as exc:
        st.error("Refused")
        st.text(str(exc))
    except (ValueError, auth.AuthError) as exc:
        st.error("Not saved")
        st.text(str(exc))
