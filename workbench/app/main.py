"""The workbench app: login, then the pages the account's role may use.

Run with ``wb serve``. Every page calls library functions that check permissions server-side;
the navigation below only decides what is offered, never what is allowed.
"""

from __future__ import annotations

import os

import streamlit as st

from archive.home import Home, HomeError
from archive.model import Role
from archive.signing import SigningKeyError
from workbench.app.pages import bidi, cases, common, gallery, item, login, settings_page
from workbench.app.pages.common import Ctx
from workbench.services import config
from workbench.services.auth import Account
from workbench.services.jobs import Worker
from workbench.services.maintenance import Maintenance

__all__ = ["run"]

PAGES: dict[str, tuple[Role, ...]] = {
    "Gallery": (Role.ANALYST, Role.REVIEWER, Role.LEGAL, Role.ADMIN),
    "Capture": (Role.ANALYST, Role.ADMIN),
    "Review queue": (Role.ANALYST, Role.REVIEWER, Role.ADMIN),
    "Legal view": (Role.LEGAL, Role.ADMIN),
    "Cases": (Role.ANALYST, Role.REVIEWER, Role.LEGAL, Role.ADMIN),
    "Settings": (Role.ANALYST, Role.REVIEWER, Role.LEGAL, Role.ADMIN),
}


# How often the page asks whether its session is still live (idle timeout, logout elsewhere,
# revocation, deactivation); when it is not, the whole page is replaced by the login form, so
# revealed media is gone within this many seconds of the timeout, without a click.
SESSION_CHECK_S = 10


def _sidebar(home: Home, account: Account) -> tuple[str, int | None]:
    st.sidebar.text(f"Signed in: {account.name} ({account.role.value})")
    st.sidebar.button("Log out", on_click=common.end_session, args=(home,), key="logout")
    allowed = [p for p, roles in PAGES.items() if account.role in roles]
    page = st.sidebar.radio("Page", allowed, key="nav", on_change=common.back)
    cases_ = common.visible_cases(home, account)
    case = st.sidebar.selectbox(
        "Case", cases_, format_func=lambda c: c.slug, key="case", on_change=common.back
    )
    return str(page), (case.id if case is not None else None)


def _route(ctx: Ctx, page: str) -> None:
    if item_id := st.session_state.get("item_id"):
        item.render(ctx, str(item_id))
        return
    if page == "Gallery":
        gallery.render(ctx)
    elif page == "Cases":
        cases.render(ctx)
    elif page == "Settings":
        settings_page.render(ctx)
    else:
        from workbench.app.pages import capture, legal, queue

        {"Capture": capture.render, "Review queue": queue.render, "Legal view": legal.render}[page](ctx)


@st.cache_resource
def _worker(root: str) -> Worker | None:
    """One job worker per app process and home (WB_JOBS_WORKER=0 turns it off, e.g. in AppTest); none
    in team mode, where `wb worker`s take the jobs from the queue (WB_QUEUE_URL)."""
    if os.environ.get("WB_JOBS_WORKER", "1") == "0":
        return None
    Maintenance(common.get_home()).start()  # scheduled fixity, delayed trusted timestamps
    if config.queue_url():
        return None
    return Worker(common.get_home(), config.key_path()).start()


@st.fragment(run_every=SESSION_CHECK_S)
def _session_watch(home: Home) -> None:
    """Rerun the whole app once the session has ended; the check itself is not activity."""
    if not common.session_live(home):
        st.rerun(scope="app")


def _no_case(account: Account) -> None:
    if account.role is Role.ADMIN:
        st.info("There is no case yet: create one on the Cases page (in the sidebar), then add members.")
    else:
        st.info("You are not a member of any case yet: ask an administrator to add you to one.")


def run() -> None:
    """One run of the app for one browser session."""
    try:
        home = common.get_home()
    except (HomeError, SigningKeyError):
        st.error("The archive could not be opened. Check WB_HOME and WB_KEY on the server.")
        return
    _worker(str(home.root))
    bidi.install()  # dir="auto" on every input and text display (LNG-02)
    account = common.current_account(home)
    if account is None:
        login.render(home)
        return
    # ?item=ID opens an item directly (still subject to the same visibility check).
    wanted = st.query_params.get("item")
    if wanted and st.session_state.get("query_item") != wanted:
        st.session_state["query_item"] = wanted
        common.open_item(str(wanted)[:64])
    _session_watch(home)
    page, case_id = _sidebar(home, account)
    case = next((c for c in common.visible_cases(home, account) if c.id == case_id), None)
    if case is None and page != "Cases" and page != "Settings":
        _no_case(account)
    _route(Ctx(home, account, case), page)


def main() -> None:
    st.set_page_config(page_title="Verification workbench", layout="wide")
    st.navigation([st.Page(run, title="Verification workbench", default=True)], position="hidden").run()


main()
